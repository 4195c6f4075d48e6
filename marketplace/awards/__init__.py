"""Awards after the close: delivery deadlines, missed delivery, re-award, decline, re-run."""
