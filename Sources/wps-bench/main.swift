// Placeholder until the load generator lands.
print("wps-bench")
