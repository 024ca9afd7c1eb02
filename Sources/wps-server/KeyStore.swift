import Glibc
import WPSAuth

/// Where access keys come from: flags, then `WPS_ACCESS_KEY`, then a key generated once and
/// kept in the state directory so restarts keep issued tokens valid.
enum KeyStore {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The `/negotiate` key: the flag, then `WPS_NEGOTIATE_KEY`, then one kept in the state directory.
    static func negotiateKey(flag: String?, stateDirectory: String, creating: Bool = true) throws -> (
        key: String, origin: String
    ) {
        if let flag, !flag.isEmpty { return (flag, "--negotiate-key") }
        if let env = getenv("WPS_NEGOTIATE_KEY"), let text = String(validatingCString: env), !text.isEmpty {
            return (text, "WPS_NEGOTIATE_KEY")
        }
        let path = stateDirectory + "/negotiate-key"
        if let stored = read(path)?.trimmingNewlines, !stored.isEmpty { return (stored, path) }
        guard creating else { return (AccessKey.generate().string, path + " (to be made)") }
        try ensureDirectory(stateDirectory)
        let key = AccessKey.generate().string
        try write(key + "\n", to: path)
        return (key, path + " (new)")
    }

    static func ensureDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw Failure(description: "cannot create state directory \(path) (errno \(errno))")
        }
    }

    /// Keys from the flags, else `WPS_ACCESS_KEY` (comma-separated, primary first), else the
    /// configuration file's `accessKeys`, else the state directory's key (made once).
    static func keys(
        flags: [String], file: (keys: [String], path: String)? = nil, stateDirectory: String, creating: Bool = true
    ) throws -> (keys: [AccessKey], origin: String) {
        if !flags.isEmpty { return (flags.map(AccessKey.init), "--access-key") }
        if let env = getenv("WPS_ACCESS_KEY"), let text = String(validatingCString: env), !text.isEmpty {
            let keys = text.split(separator: ",").map { AccessKey(String($0)) }
            if !keys.isEmpty { return (keys, "WPS_ACCESS_KEY") }
        }
        if let file { return (file.keys.map(AccessKey.init), file.path) }
        let path = stateDirectory + "/access-key"
        if let stored = read(path)?.trimmingNewlines, !stored.isEmpty {
            return ([AccessKey(stored)], path)
        }
        guard creating else { return ([AccessKey.generate()], path + " (to be made)") }
        try ensureDirectory(stateDirectory)
        let key = AccessKey.generate()
        try write(key.string + "\n", to: path)
        return ([key], path + " (new)")
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ text: String, to path: String) throws {
        // Owner-only: the key signs every token.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(path) (errno \(errno))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw Failure(description: "cannot write \(path)") }
    }
}

extension String {
    var trimmingNewlines: String {
        var view = Substring(self)
        while let last = view.last, last == "\n" || last == "\r" || last == " " { view.removeLast() }
        return String(view)
    }
}
