/// Group and hub names of the job protocol (protocol-spec/jobs.md §2).
public enum JobGroups {
    /// The hub both apps use unless told otherwise.
    public static let defaultHub = "jobs"
    /// Every solver is in this group; schedulers offer jobs here.
    public static let dispatch = "jobs.dispatch"

    /// The group of one job: claims, assignment, heartbeats, updates, cancel.
    public static func job(_ correlationId: String) -> String { "jobs.job." + correlationId }
}
