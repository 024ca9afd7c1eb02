print("job-scheduler")
