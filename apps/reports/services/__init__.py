"""Writes about reports, by stage of a report's life: ``intake`` (a request is
checked and queued once), ``pipeline`` (one worker builds, checks, signs and
stores it under a lease), ``sweep`` (reports a lost task or a dead worker left
behind) and ``downloads`` (who took which file)."""
