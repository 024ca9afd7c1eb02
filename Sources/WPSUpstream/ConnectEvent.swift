import WPSBytes

/// The blocking `connect` event: the request body and what the handler may answer
/// (protocol-spec/upstream.md §5).
public enum ConnectEvent {
    /// The body: claims, query and headers as name → list of values, the offered
    /// subprotocols and the client certificates. `query` is also sent as `queries`, the name
    /// one official handler SDK reads.
    public static func body(
        claims: [(name: String, values: [String])], query: [(name: String, value: String)],
        headers: [(name: String, value: String)], subprotocols: [String],
        clientCertificates: [(thumbprint: String, content: String)] = []
    ) -> [UInt8] {
        var out = OutputBuffer(capacity: 1024)
        out.append("{\"claims\":")
        writeMultimap(claims.map { ($0.name, $0.values) }, into: &out)
        let queryMap = grouped(query)
        out.append(",\"query\":")
        writeMultimap(queryMap, into: &out)
        out.append(",\"queries\":")
        writeMultimap(queryMap, into: &out)
        out.append(",\"headers\":")
        writeMultimap(grouped(headers), into: &out)
        out.append(",\"subprotocols\":")
        writeStrings(subprotocols, into: &out)
        out.append(",\"clientCertificates\":[")
        for (index, certificate) in clientCertificates.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append("{\"thumbprint\":")
            JSONWriter.appendString(certificate.thumbprint, to: &out)
            out.append(",\"content\":")
            JSONWriter.appendString(certificate.content, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append("]}")
        return out.bytes
    }

    /// Values of repeated names gathered under the first spelling, in arrival order.
    static func grouped(_ pairs: [(name: String, value: String)]) -> [(String, [String])] {
        var order: [(String, [String])] = []
        var index: [String: Int] = [:]
        for (name, value) in pairs {
            let key = name.lowercased()
            if let at = index[key] {
                order[at].1.append(value)
            } else {
                index[key] = order.count
                order.append((name, [value]))
            }
        }
        return order
    }

    static func writeMultimap(_ map: [(String, [String])], into out: inout OutputBuffer) {
        out.append(UInt8(ascii: "{"))
        for (index, (name, values)) in map.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            writeStrings(values, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func writeStrings(_ values: [String], into out: inout OutputBuffer) {
        out.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(value, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// What a 200 answer to `connect` asks for; absent keys are nil.
    public struct Answer: Sendable, Equatable {
        public var userId: String?
        public var groups: [String]?
        public var roles: [String]?
        public var subprotocol: String?

        public init(userId: String? = nil, groups: [String]? = nil, roles: [String]? = nil, subprotocol: String? = nil)
        {
            self.userId = userId
            self.groups = groups
            self.roles = roles
            self.subprotocol = subprotocol
        }
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads a 200 body: empty, `null` or an object with any of `userId`, `groups`,
    /// `roles`, `subprotocol` (null values count as absent; other keys are ignored).
    public static func parseAnswer(_ body: UnsafeRawBufferPointer) throws(Failure) -> Answer {
        var answer = Answer()
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return answer }
        let top: JSONToken
        do { top = try JSON.validate(body) } catch { throw Failure("the connect response is not JSON: \(error)") }
        if top.kind == .null { return answer }
        guard top.kind == .object else { throw Failure("the connect response must be a JSON object") }
        var failure: Failure?
        JSON.forEachMember(body, in: top) { key, value in
            guard failure == nil, let name = JSON.string(body, key), value.kind != .null else { return }
            switch name {
            case "userId":
                guard value.kind == .string, let text = JSON.string(body, value) else {
                    failure = Failure("userId in the connect response must be a string")
                    return
                }
                answer.userId = text
            case "subprotocol":
                guard value.kind == .string, let text = JSON.string(body, value) else {
                    failure = Failure("subprotocol in the connect response must be a string")
                    return
                }
                answer.subprotocol = text.isEmpty ? nil : text
            case "groups", "roles":
                guard let list = strings(body, value) else {
                    failure = Failure("\(name) in the connect response must be an array of strings")
                    return
                }
                if name == "groups" { answer.groups = list } else { answer.roles = list }
            default:
                break
            }
        }
        if let failure { throw failure }
        return answer
    }

    static func strings(_ body: UnsafeRawBufferPointer, _ token: JSONToken) -> [String]? {
        guard token.kind == .array else { return nil }
        var list: [String] = []
        var valid = true
        JSON.forEachElement(body, in: token) { element in
            guard element.kind == .string, let text = JSON.string(body, element) else {
                valid = false
                return
            }
            list.append(text)
        }
        return valid ? list : nil
    }
}

/// The identity a connection gets once `connect` answered (protocol-spec/upstream.md §5.2).
public struct ConnectIdentity: Sendable, Equatable {
    public var userId: String?
    public var roles: [String]
    public var groups: [String]
    public var subprotocol: String?

    public init(userId: String?, roles: [String], groups: [String], subprotocol: String?) {
        self.userId = userId
        self.roles = roles
        self.groups = groups
        self.subprotocol = subprotocol
    }

    /// The token's identity changed by the answer: `userId` replaces, `roles` (even empty)
    /// replace, `groups` replace when not empty, `subprotocol` must be one the client offered.
    public func merged(with answer: ConnectEvent.Answer, offered: [String]) throws(ConnectEvent.Failure)
        -> ConnectIdentity
    {
        var result = self
        if let userId = answer.userId { result.userId = userId.isEmpty ? nil : userId }
        if let roles = answer.roles { result.roles = roles }
        if let groups = answer.groups, !groups.isEmpty { result.groups = groups }
        if let subprotocol = answer.subprotocol {
            guard offered.contains(subprotocol) else {
                throw ConnectEvent.Failure(
                    "the event handler chose subprotocol '\(subprotocol)', which the client did not offer")
            }
            result.subprotocol = subprotocol
        }
        return result
    }
}
