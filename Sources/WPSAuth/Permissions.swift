/// What a connection may do with groups, from its token roles plus runtime grants and revokes
/// (protocol-spec/auth.md §4).
///
/// Sending `event` messages needs no role, so only the two group permissions are modelled.
public struct Permissions: Sendable, Hashable {
    /// A group permission.
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// Join or leave a group.
        case joinLeaveGroup
        /// Publish to a group.
        case sendToGroup
    }

    /// The grants of one kind. A specific revoke that a broader grant still covers is kept as an
    /// exception, so revoking one group from an "any group" connection takes effect.
    struct Grants: Sendable, Hashable {
        var anyGroup = false
        /// Specific groups, patterns and exceptions; nil while all three are empty, which is
        /// most tokens: permissions are copied into each session, and a nil costs no
        /// reference counting where three empty collections cost three.
        var lists: Lists?

        struct Lists: Sendable, Hashable {
            var groups: Set<String> = []
            var patterns: [GroupPattern] = []
            var exceptions: Set<String> = []

            var isEmpty: Bool { groups.isEmpty && patterns.isEmpty && exceptions.isEmpty }
        }

        var groups: Set<String> { lists?.groups ?? [] }
        var patterns: [GroupPattern] { lists?.patterns ?? [] }
        var exceptions: Set<String> { lists?.exceptions ?? [] }

        /// Changes the lists in place, keeping nil for empty ones so equal grants compare equal.
        mutating func updateLists(_ body: (inout Lists) -> Void) {
            var current = lists ?? Lists()
            lists = nil
            body(&current)
            lists = current.isEmpty ? nil : current
        }

        func allows(_ group: String) -> Bool {
            guard let lists else { return anyGroup }
            // Empty sets are skipped: a lookup hashes the name even when there is nothing to find.
            if !lists.exceptions.isEmpty, lists.exceptions.contains(group) { return false }
            return anyGroup || (!lists.groups.isEmpty && lists.groups.contains(group))
                || lists.patterns.contains { $0.matches(group) }
        }
    }

    var joinLeave = Grants()
    var send = Grants()

    /// Role prefixes; matched ASCII case-insensitively because the service's role names are
    /// not case-significant in practice, while the group part stays case-sensitive.
    static let roleForms: [(prefix: [UInt8], kind: Kind, plural: Bool)] = [
        (Array("webpubsub.joinLeaveGroup".utf8), .joinLeaveGroup, false),
        (Array("webpubsub.sendToGroup".utf8), .sendToGroup, false),
        (Array("webpubsub.joinLeaveGroups".utf8), .joinLeaveGroup, true),
        (Array("webpubsub.sendToGroups".utf8), .sendToGroup, true),
    ]

    /// Builds permissions from `role` claim values; unknown roles, empty group names and
    /// invalid wildcard patterns are ignored rather than failing the connection.
    public init(roles: [String]) {
        for role in roles { apply(role: role) }
    }

    /// No permissions: the state of a connection whose token has no roles.
    public init() {}

    private mutating func apply(role: String) {
        var role = role
        role.withUTF8 { apply(role: $0) }
    }

    /// Applies one role given as its UTF-8 bytes.
    mutating func apply(role utf8: UnsafeBufferPointer<UInt8>) {
        for form in Self.roleForms {
            let prefix = form.prefix
            guard utf8.count >= prefix.count,
                prefix.withUnsafeBufferPointer({
                    ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: utf8[..<prefix.count]), $0)
                })
            else { continue }
            let rest = utf8[prefix.count...]
            if rest.isEmpty {
                // The plural forms always need a pattern.
                if !form.plural { grant(form.kind, group: nil) }
                return
            }
            // "webpubsub.joinLeaveGroups.x" also starts with "webpubsub.joinLeaveGroup"; only a
            // dot right after the prefix makes it this form.
            guard rest.first == UInt8(ascii: ".") else { continue }
            let target = String(decoding: rest.dropFirst(), as: UTF8.self)
            guard !target.isEmpty else { return }
            if form.plural {
                if let pattern = GroupPattern(target) {
                    update(form.kind) { grants in grants.updateLists { $0.patterns.append(pattern) } }
                }
            } else {
                grant(form.kind, group: target)
            }
            return
        }
    }

    mutating func update(_ kind: Kind, _ body: (inout Grants) -> Void) {
        switch kind {
        case .joinLeaveGroup: body(&joinLeave)
        case .sendToGroup: body(&send)
        }
    }

    /// Reads the grants of `kind` in place: returning them would copy three collections.
    private func withGrants<T>(_ kind: Kind, _ body: (borrowing Grants) -> T) -> T {
        switch kind {
        case .joinLeaveGroup: body(joinLeave)
        case .sendToGroup: body(send)
        }
    }

    /// Whether the connection may join or leave `group`.
    public func canJoinLeave(group: String) -> Bool { joinLeave.allows(group) }

    /// Whether the connection may publish to `group`.
    public func canSend(toGroup group: String) -> Bool { send.allows(group) }

    /// Grants `kind` for `group`, or for every group when `group` is nil (which also lifts
    /// earlier specific revokes).
    public mutating func grant(_ kind: Kind, group: String?) {
        update(kind) { grants in
            if let group {
                grants.updateLists {
                    $0.exceptions.remove(group)
                    $0.groups.insert(group)
                }
            } else {
                grants.anyGroup = true
                if grants.lists != nil { grants.updateLists { $0.exceptions.removeAll() } }
            }
        }
    }

    /// Revokes `kind` for `group`, or every grant of `kind` (roles and patterns included) when
    /// `group` is nil.
    public mutating func revoke(_ kind: Kind, group: String?) {
        update(kind) { grants in
            if let group {
                if grants.lists != nil { grants.updateLists { _ = $0.groups.remove(group) } }
                if grants.allows(group) { grants.updateLists { _ = $0.exceptions.insert(group) } }
            } else {
                grants = Grants()
            }
        }
    }

    /// Whether `kind` is allowed for `group`; with a nil group, whether it is allowed for every
    /// group (an "any group" grant with no specific revokes).
    public func has(_ kind: Kind, group: String?) -> Bool {
        withGrants(kind) { grants in
            guard let group else { return grants.anyGroup && grants.exceptions.isEmpty }
            return grants.allows(group)
        }
    }
}
