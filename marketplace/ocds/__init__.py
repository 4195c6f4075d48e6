"""Open contracting (OCDS): the auction as releases, records and compiled releases."""
