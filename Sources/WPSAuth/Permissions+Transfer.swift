extension Permissions {
    /// The grants as a list of short strings, to move a connection's permissions to another
    /// node: `J`/`S` (join-leave or send) then `*` for any group, or `g:`, `x:` or `p:` and a
    /// granted group, an exception or a pattern's text.
    public var transferForm: [String] {
        var lines: [String] = []
        for (letter, grants) in [("J", joinLeave), ("S", send)] {
            if grants.anyGroup { lines.append(letter + "*") }
            for group in grants.groups.sorted() { lines.append(letter + "g:" + group) }
            for group in grants.exceptions.sorted() { lines.append(letter + "x:" + group) }
            for pattern in grants.patterns { lines.append(letter + "p:" + pattern.text) }
        }
        return lines
    }

    /// The permissions `transferForm` describes; lines it does not know are skipped.
    public init(transferForm lines: [String]) {
        self.init()
        for line in lines {
            guard let letter = line.first, letter == "J" || letter == "S" else { continue }
            let kind: Kind = letter == "J" ? .joinLeaveGroup : .sendToGroup
            let rest = line.dropFirst()
            if rest == "*" {
                update(kind) { $0.anyGroup = true }
                continue
            }
            guard rest.count >= 2, rest.dropFirst().first == ":" else { continue }
            let value = String(rest.dropFirst(2))
            switch rest.first {
            case "g": update(kind) { grants in grants.updateLists { _ = $0.groups.insert(value) } }
            case "x": update(kind) { grants in grants.updateLists { _ = $0.exceptions.insert(value) } }
            case "p":
                if let pattern = GroupPattern(value) {
                    update(kind) { grants in grants.updateLists { $0.patterns.append(pattern) } }
                }
            default: continue
            }
        }
    }
}
