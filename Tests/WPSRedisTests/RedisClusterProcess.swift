import Foundation
import Glibc

/// A 3-shard Redis Cluster of this test's own: three `redis-server`s in cluster mode on free
/// loopback ports (with free cluster bus ports), joined by `redis-cli --cluster create`, no
/// replicas. Every server is stopped by its PID (SIGKILL) in `stop` or on deinit.
final class RedisClusterProcess {
    let directory: String
    private(set) var nodes: [RedisServerProcess] = []
    /// Each node's cluster id, in `nodes` order.
    private(set) var ids: [String] = []

    /// The longest a `redis-cli` call may take.
    static let cliTimeoutSeconds: TimeInterval = 20
    /// The longest the cluster may take to say `cluster_state:ok`.
    static let readyTimeoutSeconds: TimeInterval = 20

    static var cliExecutable: String? {
        ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var available: Bool { RedisServerProcess.executable != nil && cliExecutable != nil }

    init(shards: Int = 3) throws {
        var template = Array("/tmp/wps-redis-cluster-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RedisServerProcess.Failure("no temporary directory")
        }
        directory = String(cString: made)
        do {
            for index in 0..<shards {
                let busPort = try RedisServerProcess.freePort()
                nodes.append(
                    try RedisServerProcess(arguments: [
                        "--cluster-enabled", "yes", "--cluster-config-file", "\(directory)/nodes-\(index).conf",
                        "--cluster-port", String(busPort), "--dir", directory,
                    ]))
            }
            _ = try Self.cli(
                ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
                    "--cluster-replicas", "0", "--cluster-yes",
                ])
            try waitUntilOK()
            ids = try nodes.map { try cli($0, ["CLUSTER", "MYID"]).trimmingCharacters(in: .whitespacesAndNewlines) }
        } catch {
            stop()
            throw error
        }
    }

    func stop() {
        for node in nodes { node.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// Waits until every running node says `cluster_state:ok`.
    func waitUntilOK(_ which: [Int]? = nil) throws {
        let deadline = Date().addingTimeInterval(Self.readyTimeoutSeconds)
        let which = which ?? Array(nodes.indices)
        while Date() < deadline {
            let ok = which.allSatisfy {
                (try? cli(nodes[$0], ["CLUSTER", "INFO"]))?.contains("cluster_state:ok") == true
            }
            if ok { return }
            usleep(50_000)
        }
        throw RedisServerProcess.Failure("the cluster did not reach cluster_state:ok")
    }

    /// The index of the node owning `slot`, from the first node's view.
    func owner(ofSlot slot: Int) throws -> Int {
        let text = try cli(nodes[0], ["CLUSTER", "NODES"])
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            guard fields.count >= 9, let index = ids.firstIndex(of: String(fields[0])) else { continue }
            for range in fields[8...] {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 1, bounds[0] == slot { return index }
                if bounds.count == 2, bounds[0] <= slot, slot <= bounds[1] { return index }
            }
        }
        throw RedisServerProcess.Failure("no node owns slot \(slot)")
    }

    /// Starts moving `slot` from node `from` to node `to`: the target imports it, the
    /// source migrates it, and `keys` are moved; the slot still belongs to the source.
    func beginMigration(slot: Int, from: Int, to: Int, keys: [String]) throws {
        _ = try cli(nodes[to], ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", ids[from]])
        _ = try cli(nodes[from], ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", ids[to]])
        guard !keys.isEmpty else { return }
        let answer = try cli(
            nodes[from], ["MIGRATE", "127.0.0.1", String(nodes[to].port), "", "0", "5000", "KEYS"] + keys)
        guard answer.contains("OK") else { throw RedisServerProcess.Failure("MIGRATE answered \(answer)") }
    }

    /// Ends a migration: every node learns that `to` owns `slot`.
    func finishMigration(slot: Int, to: Int) throws {
        for index in [to] + nodes.indices.filter({ $0 != to }) {
            _ = try cli(nodes[index], ["CLUSTER", "SETSLOT", String(slot), "NODE", ids[to]])
        }
    }

    /// Moves `slot` (with `keys`) from node `from` to node `to`.
    func move(slot: Int, from: Int, to: Int, keys: [String] = []) throws {
        try beginMigration(slot: slot, from: from, to: to, keys: keys)
        try finishMigration(slot: slot, to: to)
    }

    /// One command to one node (no redirects followed); its output.
    func cli(_ node: RedisServerProcess, _ arguments: [String]) throws -> String {
        try Self.cli(["-p", String(node.port)] + arguments)
    }

    /// Runs `redis-cli` with `arguments`, killed past `cliTimeoutSeconds`.
    static func cli(_ arguments: [String]) throws -> String {
        guard let executable = cliExecutable else { throw RedisServerProcess.Failure("redis-cli is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The answers are short (a few kB at most): they fit in the pipe until it exits.
        let deadline = Date().addingTimeInterval(cliTimeoutSeconds)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw RedisServerProcess.Failure("redis-cli \(arguments.joined(separator: " ")) did not finish")
        }
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
