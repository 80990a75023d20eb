"""Analysis of SAE features: statistics, dashboards, explanations, neighbours."""
