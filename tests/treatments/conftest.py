"""Editors signed in to the admin, for the treatments tests."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client


@pytest.fixture
def editor():
    user = User.objects.create_user("editor", password="a-long-passphrase", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def editor_client(editor):
    client = Client()
    client.force_login(editor)
    return client
