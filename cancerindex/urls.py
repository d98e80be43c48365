from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

admin.site.site_header = "CancerIndex editors"
admin.site.site_title = "CancerIndex editors"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("about/", TemplateView.as_view(template_name="about.html"), name="about"),
    path("disclaimer/", TemplateView.as_view(template_name="disclaimer.html"), name="disclaimer"),
    path("search/", include("search.urls")),
    path("cite/", include("publications.urls")),
    path("", include("treatments.urls")),
]
