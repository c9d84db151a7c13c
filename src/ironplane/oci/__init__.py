"""What is specific to Oracle Cloud: OKE Workload Identity policies."""
