"""Licensed coding dictionaries the user supplies (MedDRA): readers shared by mapping and validation."""
