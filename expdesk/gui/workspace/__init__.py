"""The workspace charts: charts that follow the runs table."""
