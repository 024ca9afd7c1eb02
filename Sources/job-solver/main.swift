print("job-solver")
