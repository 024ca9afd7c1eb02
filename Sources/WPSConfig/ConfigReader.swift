import Yams

/// Typed reads of YAML nodes that fail with the node's place in the file.
struct Reader {
    let path: String

    func error(_ node: Node, _ reason: String) -> ConfigError {
        let mark = node.mark
        return ConfigError(path: path, line: mark?.line ?? 0, column: mark?.column ?? 0, reason: reason)
    }

    func mapping(_ node: Node, what: String) throws(ConfigError) -> Node.Mapping {
        guard let mapping = node.mapping else { throw error(node, "\(what) must be a mapping of keys to values") }
        return mapping
    }

    func sequence(_ node: Node, _ key: String) throws(ConfigError) -> [Node] {
        guard case .sequence(let sequence) = node else { throw error(node, "\(key) must be a list") }
        return Array(sequence)
    }

    func key(_ node: Node, allowed: Set<String>, in place: String) throws(ConfigError) -> String {
        guard let name = node.scalar?.string else { throw error(node, "keys must be strings") }
        guard allowed.contains(name) else {
            throw error(node, "unknown key '\(name)' in \(place); known: \(allowed.sorted().joined(separator: ", "))")
        }
        return name
    }

    func string(_ node: Node, _ key: String) throws(ConfigError) -> String {
        guard let scalar = node.scalar else { throw error(node, "\(key) must be a string") }
        return scalar.string
    }

    func int(_ node: Node, _ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard node.scalar != nil, let value = node.int else { throw error(node, "\(key) must be a whole number") }
        guard range.contains(value) else {
            throw error(
                node,
                "\(key) must be \(range.upperBound == Int.max ? "at least \(range.lowerBound)" : "\(range.lowerBound)...\(range.upperBound)")"
            )
        }
        return value
    }

    func positive(_ node: Node, _ key: String) throws(ConfigError) -> Double {
        guard node.scalar != nil, let value = node.float ?? node.int.map(Double.init), value > 0, value.isFinite else {
            throw error(node, "\(key) must be a positive number")
        }
        return value
    }

    func bool(_ node: Node, _ key: String) throws(ConfigError) -> Bool {
        guard node.scalar != nil, let value = node.bool else { throw error(node, "\(key) must be true or false") }
        return value
    }
}
