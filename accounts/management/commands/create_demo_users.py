"""Create one demo user per role and print their passwords once."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import IT, ONBOARDING, SUPERVISOR

DEMO_USERS = {"supervisor": SUPERVISOR, "it": IT, "onboarding": ONBOARDING}


def strong_password(user) -> str:
    """16 random characters that pass the portal's password rules (a rare draw holding a product word does not)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            validate_password(candidate, user)
        except ValidationError:
            continue
        return candidate


class Command(BaseCommand):
    help = "Create the demo users supervisor, it and onboarding (one per role), printing their passwords once."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Give existing demo users new passwords.")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        User = get_user_model()
        created = []
        for username, role in DEMO_USERS.items():
            user = User.objects.filter(username=username).first()
            if user is not None and not reset:
                continue
            if user is None:
                user = User(username=username, is_staff=True)
            password = strong_password(user)
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            created.append((username, role, password))
        if not created:
            self.stdout.write(
                "Demo users already exist; their passwords were printed when they were created. "
                "New passwords: python manage.py create_demo_users --reset"
            )
            return
        self.stdout.write(self.style.SUCCESS("Demo users (passwords are shown only now):"))
        for username, role, password in created:
            self.stdout.write(f"  {role:<11} user: {username:<11} password: {password}")
