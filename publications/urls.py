from django.urls import path

from . import views

app_name = "publications"

# Under "cite/" (cancerindex.urls): a reserved first segment (paths.reserved_root_slugs), no section's.
urlpatterns = [
    path("<int:pmid>.<str:fmt>", views.cite, name="cite"),
    path("page/<int:page_id>.<str:fmt>", views.cite_page, name="cite_page"),
]
