"""CTI link: the AMI adapter, the call model built from its events, and the AMI PBX."""
