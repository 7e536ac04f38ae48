"""Publisher staff register builds: the same door as the API."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils import timezone
from django.views.generic import FormView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin

from .builds import build_register, build_register_problems, built_at_parse
from .models import Repository, Variant


def _words(value: str) -> list[str]:
    return [word for word in value.replace(",", " ").split() if word]


class BuildRegisterForm(forms.Form):
    repository = forms.CharField(
        max_length=100,
        help_text="An existing repository, or the name of a new one (e.g. python).",
        widget=forms.TextInput(attrs={"list": "repositories", "autocomplete": "off"}),
    )
    category = forms.ChoiceField(
        choices=Repository.Category.choices,
        initial=Repository.Category.APPLICATION,
        help_text="Only for a new repository.",
    )
    series = forms.CharField(max_length=50, help_text="The version line, e.g. 3.12.")
    flavor = forms.ChoiceField(
        choices=Variant.Flavor.choices, initial=Variant.Flavor.RUNTIME
    )
    fips = forms.BooleanField(required=False, label="FIPS variant")
    stig = forms.BooleanField(required=False, label="STIG variant")
    digest = forms.CharField(
        max_length=71, help_text="The image manifest's digest: sha256:<64 hex>."
    )
    built_at = forms.CharField(
        label="Built at",
        max_length=40,
        help_text="ISO 8601 with its time zone, e.g. 2026-12-07T09:30:00Z.",
    )
    tags = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Tags pointing at it, separated by spaces or commas; each moves "
        "here from the build it pointed at.",
    )
    architectures = forms.CharField(
        required=False,
        max_length=200,
        help_text="Separated by spaces or commas; amd64 if empty.",
    )

    def clean_built_at(self):
        try:
            return built_at_parse(self.cleaned_data["built_at"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["built_at"]) from None

    def clean(self):
        data = super().clean()
        problems = build_register_problems(
            repository=data.get("repository", "").strip(),
            series=data.get("series", "").strip(),
            digest=data.get("digest", ""),
            flavor=data.get("flavor", ""),
            built_at=data.get("built_at"),
            tags=_words(data.get("tags", "")),
            architectures=_words(data.get("architectures", "")),
            category=data.get("category", ""),
            now=timezone.now(),
        )
        # Every problem at once; a field its own check refused keeps that.
        for field, message in problems.items():
            if field not in self.errors:
                self.add_error(field, message)
        return data


class BuildRegisterView(StaffOnlyMixin, FormView):
    """Register a build: repository (new or existing), series, variant, tags."""

    template_name = "catalog/staff_build_register.html"
    form_class = BuildRegisterForm

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "repositories": Repository.objects.order_by("name").values_list(
                "name", flat=True
            ),
        }

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            result = build_register(
                repository=data["repository"].strip(),
                series=data["series"].strip(),
                digest=data["digest"],
                built_at=data["built_at"],
                flavor=data["flavor"],
                fips=data["fips"],
                stig=data["stig"],
                tags=_words(data["tags"]),
                architectures=_words(data["architectures"]),
                category=data["category"],
                actor=self.request.user,
                request=self.request,
                via="staff page",
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
            return self.form_invalid(form)
        image = result.image
        if result.created:
            messages.success(
                self.request, f"Registered {image.variant} {image.digest}."
            )
        else:
            moved = ", ".join(result.tags_moved) or "none"
            messages.info(
                self.request,
                f"{image.digest} was registered before as {image.variant}; nothing "
                f"changed but its tags (moved to it: {moved}).",
            )
        return redirect("catalog:digest", digest=image.digest)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response
