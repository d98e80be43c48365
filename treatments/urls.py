from django.urls import path

from . import feeds, previews, sitemaps, views

app_name = "treatments"

urlpatterns = [
    path("", views.home, name="home"),
    path("feedback/<int:page_id>/", views.feedback, name="feedback"),
    path("preview/<str:token>/", previews.shared_preview, name="shared_preview"),
    path("tags/<slug:slug>/", views.tag, name="tag"),
    path("a-z/", views.a_to_z, name="a_z"),
    # No section can take these: "feeds" is a reserved first segment (paths.reserved_root_slugs), and
    # the others have a dot, which no slug has.
    path("feeds/site.atom", feeds.site_atom, name="site_feed_atom"),
    path("feeds/site.rss", feeds.site_rss, name="site_feed_rss"),
    path("feeds/<int:page_id>.atom", feeds.page_atom, name="page_feed_atom"),
    path("feeds/<int:page_id>.rss", feeds.page_rss, name="page_feed_rss"),
    path("sitemap.xml", sitemaps.sitemap, name="sitemap"),
    path("robots.txt", sitemaps.robots_txt, name="robots_txt"),
    path("favicon.ico", sitemaps.favicon, name="favicon"),
    # Last: every other path is a section or a page in the tree.
    path("<path:path>/", views.node, name="node"),
]
