import ArgumentParser
import Dispatch
import Glibc
import WPSClient
import WPSJobs

/// Submits one job through wps-server and follows it to the end (protocol-spec/jobs.md).
@main
struct JobSchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job-scheduler",
        abstract: "Submits a job to the job solvers through wps-server and shows its progress.",
        discussion: "Exit status: 0 done, 2 cancelled, 1 failed.")

    @Option(help: "wps-server base URL, e.g. http://127.0.0.1:8080.")
    var server: String

    @Option(help: "The server's /negotiate key (default: $WPS_NEGOTIATE_KEY).")
    var negotiateKey: String?

    @Option(help: "The hub.")
    var hub: String = JobGroups.defaultHub

    @Option(help: "The job's name.")
    var name: String = "Job 1"

    @Option(help: "Comma-separated step names.")
    var steps: String = "Read all the data,Build in-memory model,Train the model"

    @Option(help: "The job's correlation id (default: random).")
    var correlationId: String?

    @Option(help: "Send a cancel after this many seconds.")
    var cancelAfter: Double?

    @Option(help: "Seconds before an unclaimed offer is published again.")
    var claimTimeout: Double = 5

    @Option(help: "Seconds of solver silence before the job is re-offered.")
    var heartbeatTimeout: Double = 10

    @Option(help: "Seconds to wait for the solver to confirm a cancel.")
    var cancelTimeout: Double = 10

    @Flag(help: "Print one JSON object per update (and a final result object).")
    var json = false

    func validate() throws {
        guard claimTimeout > 0, heartbeatTimeout > 0, cancelTimeout > 0, (cancelAfter ?? 0) >= 0 else {
            throw ValidationError("times must be positive")
        }
        guard !steps.split(separator: ",").isEmpty else { throw ValidationError("--steps names no step") }
    }

    func run() async throws {
        guard let key = negotiateKey ?? Console.environment("WPS_NEGOTIATE_KEY") else {
            Console.error("job-scheduler: no negotiate key (--negotiate-key or WPS_NEGOTIATE_KEY)")
            Console.exit(1)
        }
        let job = Job(
            name: name, correlationId: correlationId ?? Console.randomHex(16),
            steps: steps.split(separator: ",").map { String($0).trimmingSpaces() })
        var settings = SchedulerConfiguration()
        settings.claimTimeout = .seconds(claimTimeout)
        settings.heartbeatTimeout = .seconds(heartbeatTimeout)
        settings.cancelTimeout = .seconds(cancelTimeout)
        let output: SchedulerOutput = json ? .json : Console.stdoutIsTerminal ? .terminal : .lines
        let shell = SchedulerShell(
            server: JobServer(url: server, negotiateKey: key, hub: hub),
            machine: SchedulerStateMachine(job: job, configuration: settings), output: output,
            cancelAfter: cancelAfter.map { .seconds($0) })
        await shell.run()
    }
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
