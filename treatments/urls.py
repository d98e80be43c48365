from django.urls import path

from . import previews, views

app_name = "treatments"

urlpatterns = [
    path("", views.home, name="home"),
    path("feedback/<int:page_id>/", views.feedback, name="feedback"),
    path("preview/<str:token>/", previews.shared_preview, name="shared_preview"),
    # Last: every other path is a section or a page in the tree.
    path("<path:path>/", views.node, name="node"),
]
