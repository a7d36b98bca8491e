"""Report: terminal tables, CSV/JSON and the HTML report, rendered from records (their dicts) alone, so a saved
analysis re-renders exactly; nothing here imports a computing stage."""
