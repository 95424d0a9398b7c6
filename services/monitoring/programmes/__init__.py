"""Programme configuration: one YAML file per programme in this folder (adding one needs no code)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PROGRAMMES_DIR = Path(__file__).resolve().parent


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class OverdueConfig(_Config):
    grace_days: float = Field(default=2, ge=0, description="Wait after the due time before a report is missed.")
    offline_grace_days: float = Field(default=7, ge=0, description="Fire even without a device sync after this.")
    critical_after_days: float = Field(default=14, ge=0, description="Escalate to critical after this.")


class FacilitatorAbsentConfig(_Config):
    severity: Literal["info", "warning", "critical"] = "warning"
    consecutive_for_critical: int = Field(default=2, ge=2, description="Meetings in a row without the facilitator.")


class LowAttendanceConfig(_Config):
    threshold_ratio: float = Field(default=0.75, ge=0, le=1)


class AttendanceDecliningConfig(_Config):
    margin_ratio: float = Field(default=0.20, ge=0, le=1)
    window_meetings: int = Field(default=3, ge=2)


class TooShortConfig(_Config):
    min_share_of_expected: float = Field(default=0.6, ge=0, le=1)


class ActivityOverdueConfig(_Config):
    severity: Literal["info", "warning", "critical"] = "warning"
    offline_grace_days: float = Field(
        default=7, ge=0, description="Fire even without a device sync past the due day after this."
    )


class ActivityAtRiskConfig(_Config):
    margin_ratio: float = Field(default=0.25, ge=0, le=1)
    from_elapsed_share: float = Field(default=0.5, ge=0, le=1)
    offline_grace_days: float = Field(
        default=7, ge=0, description="Fire even without a device sync past the risk instant after this."
    )


class LowScoreConfig(_Config):
    threshold_score: float = Field(default=2.5, ge=1, le=5)


class ManyGroupsConfig(_Config):
    groups: int = Field(default=3, ge=2, description="At least this many of the facilitator's groups deviate...")
    share_of_groups: float = Field(default=0.5, ge=0, le=1, description="...and at least this share of them.")
    from_severity: Literal["info", "warning", "critical"] = Field(
        default="warning", description="Only open deviations of this severity or above make a group count."
    )


class ReportingLaggingConfig(_Config):
    max_lag_days: float = Field(default=7, ge=0)


class SustainedSuccessConfig(_Config):
    periods: int = Field(default=6, ge=1)
    attendance_ratio: float = Field(default=0.9, ge=0, le=1)


class RuleConfigs(_Config):
    meeting_overdue: OverdueConfig = Field(default_factory=OverdueConfig, alias="meeting.overdue")
    meeting_facilitator_absent: FacilitatorAbsentConfig = Field(
        default_factory=FacilitatorAbsentConfig, alias="meeting.facilitator_absent"
    )
    meeting_low_attendance: LowAttendanceConfig = Field(
        default_factory=LowAttendanceConfig, alias="meeting.low_attendance"
    )
    meeting_attendance_declining: AttendanceDecliningConfig = Field(
        default_factory=AttendanceDecliningConfig, alias="meeting.attendance_declining"
    )
    meeting_too_short: TooShortConfig = Field(default_factory=TooShortConfig, alias="meeting.too_short")
    plan_activity_overdue: ActivityOverdueConfig = Field(
        default_factory=ActivityOverdueConfig, alias="plan.activity_overdue"
    )
    plan_activity_at_risk: ActivityAtRiskConfig = Field(
        default_factory=ActivityAtRiskConfig, alias="plan.activity_at_risk"
    )
    evaluation_low_score: LowScoreConfig = Field(default_factory=LowScoreConfig, alias="evaluation.low_score")
    facilitator_many_groups_deviating: ManyGroupsConfig = Field(
        default_factory=ManyGroupsConfig, alias="facilitator.many_groups_deviating"
    )
    reporting_lagging: ReportingLaggingConfig = Field(default_factory=ReportingLaggingConfig, alias="reporting.lagging")
    recognition_sustained_success: SustainedSuccessConfig = Field(
        default_factory=SustainedSuccessConfig, alias="recognition.sustained_success"
    )


class ProgrammeConfig(_Config):
    """One programme's cadence and rule thresholds."""

    programme: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    name: dict[Literal["id", "en"], str]
    cadence: Literal["monthly", "quarterly"]
    expected_meeting_minutes: int = Field(gt=0)
    rules: RuleConfigs = Field(default_factory=RuleConfigs)


DEFAULT_PROGRAMME = ProgrammeConfig(
    programme="default", name={"id": "Program", "en": "Programme"}, cadence="monthly", expected_meeting_minutes=120
)


def load_programmes(directory: Path = PROGRAMMES_DIR) -> dict[str, ProgrammeConfig]:
    """Every `*.yaml` in the folder, keyed by programme id; a file whose name and id differ is an error."""
    programmes: dict[str, ProgrammeConfig] = {}
    for path in sorted(directory.glob("*.yaml")):
        config = ProgrammeConfig.model_validate(yaml.safe_load(path.read_text()))
        if config.programme != path.stem:
            raise ValueError(f"{path.name} declares programme {config.programme!r}")
        programmes[config.programme] = _sharing_defaults(config)
    return programmes


def _sharing_defaults(config: ProgrammeConfig) -> ProgrammeConfig:
    """`config` with each rule's configuration that equals the default programme's replaced by that
    very object. Why: a group is judged under the default programme until its first record naming
    its programme, and what the rules derive is kept beside its state for the configuration it was
    derived under, checked by identity first (`activities.PlanTimes.fits`); an equal configuration
    that is another object was compared field by field at every record (pydantic's `==`, 1.3 % of
    the bench's bare loop)."""
    defaults = DEFAULT_PROGRAMME.rules
    shared = {
        name: getattr(defaults, name)
        for name in RuleConfigs.model_fields
        if getattr(config.rules, name) is not getattr(defaults, name)
        and getattr(config.rules, name) == getattr(defaults, name)
    }
    if not shared:
        return config
    return config.model_copy(update={"rules": config.rules.model_copy(update=shared)})


def programme_config(programmes: dict[str, ProgrammeConfig], programme: str) -> ProgrammeConfig:
    """A programme's config; an unknown programme gets the contract's defaults rather than no monitoring."""
    return programmes.get(programme, DEFAULT_PROGRAMME)
