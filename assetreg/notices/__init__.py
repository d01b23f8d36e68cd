"""Notices (公示) of distribution plans: printable A4 HTML and XLSX, personal data masked."""
