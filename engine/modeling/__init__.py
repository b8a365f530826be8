"""The analyst's side: checking, importing and exporting models, version diffs and migrating
running cases between versions."""
