"""The Object Lock section of a bucket's Settings tab: the default retention form as typed, and
the configuration it asks for (whose rules are nexq.storage.object_lock's)."""

from dataclasses import dataclass

from nexq.core.errors import Invalid
from nexq.storage.object_lock import LockConfiguration, default_retention

UNITS = ("days", "years")


@dataclass(frozen=True, slots=True)
class RetentionDraft:
    """The form's fields as typed: a mode ("" for none), a period and its unit."""

    mode: str = ""
    period: str = ""
    unit: str = "days"

    @staticmethod
    def of(config: LockConfiguration | None) -> "RetentionDraft":
        """The form filled with the bucket's default retention."""
        if config is None or config.mode is None:
            return RetentionDraft()
        if config.years is not None:
            return RetentionDraft(config.mode, str(config.years), "years")
        return RetentionDraft(config.mode, str(config.days or ""), "days")

    def configuration(self) -> LockConfiguration:
        """What the form asks for; Invalid naming the field that is wrong."""
        if self.unit not in UNITS:
            raise Invalid("Choose days or years.")
        if not self.mode:
            if self.period.strip():
                raise Invalid("Choose a mode for the default retention, or leave the period empty.")
            return default_retention(None, None, None)
        period = self.period.strip()
        if not (period.isascii() and period.isdigit()):
            raise Invalid("Retention period: a whole number of days or years.")
        # Digits past any bound need not be converted: the rule names the bound either way.
        count = int(period) if len(period) <= 12 else 10**12
        days, years = (count, None) if self.unit == "days" else (None, count)
        return default_retention(self.mode, days, years)
