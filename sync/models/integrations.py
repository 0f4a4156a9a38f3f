"""One ERP ↔ CRM pair: its connections, deployment, schedule and alerts."""

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField

from .. import validators
from ..choices import DeploymentStatus, IntegrationType, ScheduleKind
from .cleaning import clean_fields_with_outbound_urls, raise_errors

# The longest interval schedule: a week (django-q2 keeps a schedule's minutes in a small integer).
LONGEST_INTERVAL_MINUTES = 7 * 24 * 60
LONGEST_MAX_TIME_WITHOUT_SUCCESS = timedelta(days=365)  # as the integration page allows


class Integration(models.Model):
    """One ERP ↔ CRM pair and how and when it runs."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    integration_type = models.CharField(_("integration type"), max_length=10, choices=IntegrationType.choices)
    erp_name = models.CharField(_("ERP"), max_length=100, help_text=_("e.g. Sankhya, TOTVS, SAP B1, Dynamics NAV"))
    erp_version = models.CharField(_("ERP version"), max_length=50, blank=True)
    crm_name = models.CharField(_("CRM"), max_length=100, help_text=_("e.g. Ploomes, HubSpot"))
    erp_connection = models.ForeignKey(
        "Connection", models.PROTECT, related_name="erp_integrations", verbose_name=_("ERP connection")
    )
    crm_connection = models.ForeignKey(
        "Connection", models.PROTECT, related_name="crm_integrations", verbose_name=_("CRM connection")
    )
    deployment_status = models.CharField(
        _("deployment status"), max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.IN_PROGRESS
    )
    active = models.BooleanField(_("active"), default=True)
    activated_at = models.DateTimeField(
        _("activated at"), null=True, blank=True, editable=False, help_text=_("When it was last switched on")
    )
    business_rule = models.TextField(
        _("business rule"), blank=True, help_text=_("e.g. only customers with approved credit")
    )

    schedule_kind = models.CharField(
        _("schedule"), max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.NONE
    )
    schedule_interval_minutes = models.PositiveIntegerField(
        _("every (minutes)"),
        null=True,
        blank=True,
        validators=[
            validators.NotBelow(1, low=1, high=LONGEST_INTERVAL_MINUTES),
            validators.IntervalNotAbove(LONGEST_INTERVAL_MINUTES, low=1, high=LONGEST_INTERVAL_MINUTES),
        ],
    )
    schedule_daily_time = models.CharField(_("daily at (HH:MM)"), max_length=5, blank=True)
    schedule_cron = models.CharField(
        _("cron expression"), max_length=100, blank=True, help_text=_("e.g. */15 8-18 * * 1-5")
    )
    max_time_without_success = models.DurationField(
        _("max time without success"),
        default=timedelta(hours=24),
        validators=[validators.DurationNotAbove(LONGEST_MAX_TIME_WITHOUT_SUCCESS)],
        help_text=_("Alert when no run has succeeded for this long, e.g. 24h"),
    )
    alert_emails = models.TextField(
        _("alert recipients"), blank=True, help_text=_("Email addresses, separated by commas or lines")
    )
    # A credential for Slack-like services (whoever has it can post): encrypted like a connection's secrets.
    alert_webhook_url = EncryptedTextField(
        _("alert webhook URL"), blank=True, help_text=_("Receives JSON with a Slack-compatible text")
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")
        permissions = [
            ("run_integration", _("Can run an integration now")),
            ("export_history", _("Can export an integration's history")),
            ("change_deployment_status", _("Can change an integration's deployment status")),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.active and self.activated_at is None:
            self.activated_at = timezone.now()
        elif not self.active:
            self.activated_at = None
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        """The alert webhook is an address the portal calls: it must pass the outbound policy."""
        clean_fields_with_outbound_urls(self, ("alert_webhook_url",), exclude, super().clean_fields)

    def clean(self):
        errors = {}
        kind = self.schedule_kind
        if kind == ScheduleKind.INTERVAL and not self.schedule_interval_minutes:
            errors["schedule_interval_minutes"] = [_("Say every how many minutes the integration runs.")]
        if kind == ScheduleKind.DAILY:
            errors["schedule_daily_time"] = validators.check_daily_time(self.schedule_daily_time)
        if kind == ScheduleKind.CRON:
            errors["schedule_cron"] = validators.check_cron(self.schedule_cron)
        if self.max_time_without_success is not None and self.max_time_without_success <= timedelta(0):
            errors["max_time_without_success"] = [_("The max time without success must be positive, e.g. 24h.")]
        errors["alert_emails"] = validators.check_email_list(self.alert_emails)
        if self.erp_connection_id and self.erp_connection_id == self.crm_connection_id:
            errors["crm_connection"] = [_("The ERP and the CRM need different connections.")]
        raise_errors(errors)

    @property
    def alert_recipients(self) -> list[str]:
        return validators.split_list(self.alert_emails)
