"""New integration from a preset (IT): the presets of ``PRESETS_DIR``, one preset's form, its documentation."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from ..config_io import ConfigError
from ..models import Connection, Integration, SyncTable
from ..presets import Preset, create_from_preset, find_preset, list_presets

# What a preset creates: an integration, its two connections, its tables and their mappings.
PERMISSIONS = ("sync.add_integration", "sync.add_connection", "sync.add_synctable", "sync.add_fieldmapping")


def may_start_from_preset(user) -> bool:
    return user.has_perms(PERMISSIONS)


def preset_urls(admin_site) -> list:
    """The pages, under the integrations' admin: ``admin:sync_integration_presets`` and the others."""
    return [
        path("presets/", admin_site.admin_view(require_GET(preset_list)), name="sync_integration_presets"),
        path(
            "presets/<str:slug>/",
            admin_site.admin_view(require_http_methods(["GET", "POST"])(from_preset)),
            name="sync_integration_from_preset",
        ),
        path(
            "presets/<str:slug>/documentation/",
            admin_site.admin_view(require_GET(preset_documentation)),
            name="sync_integration_preset_documentation",
        ),
    ]


class PresetForm(forms.Form):
    """The preset's inputs; a secret is a password input that never shows what was typed."""

    def __init__(self, preset: Preset, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preset = preset
        for item in preset.inputs:
            if item.secret:
                self.fields[item.key] = forms.CharField(
                    label=item.label,
                    required=False,  # left empty, the import names the missing variable
                    strip=False,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text=_("The variable %(variable)s of the file, when it is imported from the command line.")
                    % {"variable": item.variable},
                )
            else:
                self.fields[item.key] = forms.CharField(
                    label=item.label,
                    initial=item.example,
                    widget=forms.TextInput(attrs={"placeholder": item.example, "size": 60}),
                )

    def groups(self) -> list[tuple[str, list]]:
        return [(title, [self[item.key] for item in items]) for title, items in self.preset.groups()]

    def add_import_problems(self, problems: list[str]) -> None:
        """Each problem of the import under the input it is about (by its path), the others above the form."""
        for problem in problems:
            item = next((item for item in self.preset.inputs if problem.startswith(f"{item.where}: ")), None)
            self.add_error(item.key if item else None, problem)


def _refuse_unless_allowed(request) -> None:
    if not may_start_from_preset(request.user):
        raise PermissionDenied


def _preset_or_404(slug: str) -> Preset:
    preset = find_preset(slug)
    if preset is None:
        raise Http404(_("No preset is called %(name)s.") % {"name": slug})
    return preset


def _context(request, title: str, **values) -> dict:
    return {**admin.site.each_context(request), "opts": Integration._meta, "title": title, **values}


def preset_list(request):
    _refuse_unless_allowed(request)
    context = _context(request, _("New integration from a preset"), presets=list_presets())
    return TemplateResponse(request, "sync/presets/list.html", context)


def from_preset(request, slug):
    """GET asks for the preset's inputs; POST imports the filled preset or shows the import's problems."""
    _refuse_unless_allowed(request)
    preset = _preset_or_404(slug)
    form = None
    if preset.usable:
        form = PresetForm(preset, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                created = create_from_preset(preset, form.cleaned_data)
            except ConfigError as exc:
                form.add_import_problems(exc.messages)
            else:
                _say_what_was_created(request, preset, created)
                return HttpResponseRedirect(reverse("admin:sync_integration_change", args=[created.integration.pk]))
    title = _("New integration from the preset %(name)s") % {"name": preset.title or preset.file.name}
    return TemplateResponse(request, "sync/presets/form.html", _context(request, title, preset=preset, form=form))


def _say_what_was_created(request, preset: Preset, created) -> None:
    erp, crm = created.names(Connection)
    tables = len(created.names(SyncTable))
    text = ngettext(
        'The integration "%(name)s" was created from the preset "%(preset)s", with the connections "%(erp)s" and '
        '"%(crm)s" and %(count)d table.',
        'The integration "%(name)s" was created from the preset "%(preset)s", with the connections "%(erp)s" and '
        '"%(crm)s" and %(count)d tables.',
        tables,
    )
    values = {"name": created.integration.name, "preset": preset.title, "erp": erp, "crm": crm, "count": tables}
    messages.success(request, text % values)
    if not created.integration.active:
        messages.warning(
            request,
            _("It is inactive, as the preset says: check its tables and mappings, then make it active."),
        )


def preset_documentation(request, slug):
    _refuse_unless_allowed(request)
    preset = _preset_or_404(slug)
    if not preset.has_documentation():
        raise Http404(_("The preset %(name)s has no documentation.") % {"name": slug})
    text = preset.documentation.read_text(encoding="utf-8", errors="replace")
    title = _("Preset %(name)s: documentation") % {"name": preset.title or preset.file.name}
    return TemplateResponse(
        request, "sync/presets/documentation.html", _context(request, title, preset=preset, text=text)
    )
