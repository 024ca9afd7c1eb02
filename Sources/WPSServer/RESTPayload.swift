import WPSBytes
import WPSHTTP
import WPSHub
import WPSProtocol

/// A REST send body turned into the JSON `data` value clients receive (reference §5.2):
/// `application/json` as is, `text/plain` as a JSON string, `application/octet-stream` (or
/// no content type) as base64.
struct RESTPayload {
    struct Failure: Error {
        var status: HTTPStatus
        var code: String
        var message: String
    }

    var dataType: DataType
    /// The JSON value for `data`.
    var value: [UInt8]

    static func decode(contentType: String?, body: [UInt8]) -> Result<RESTPayload, Failure> {
        let media = contentType.map(mediaType) ?? "application/octet-stream"
        switch media {
        case "application/json", "text/json":
            let valid = body.withUnsafeBytes { bytes -> JSONError? in
                do throws(JSONError) {
                    _ = try JSON.validate(bytes)
                    return nil
                } catch {
                    return error
                }
            }
            if let valid {
                return .failure(
                    Failure(status: .badRequest, code: "InvalidJson", message: "the body is not valid JSON: \(valid)"))
            }
            return .success(RESTPayload(dataType: .json, value: body))
        case "text/plain":
            guard let text = String(validating: body, as: UTF8.self) else {
                return .failure(
                    Failure(status: .badRequest, code: "InvalidText", message: "a text/plain body must be UTF-8"))
            }
            var out = OutputBuffer(capacity: body.count + 8)
            ServerMessageEncoder.appendData(text: text, to: &out)
            return .success(RESTPayload(dataType: .text, value: out.bytes))
        case "application/octet-stream":
            var out = OutputBuffer(capacity: body.count * 4 / 3 + 8)
            body.withUnsafeBytes { ServerMessageEncoder.appendData(binary: $0, to: &out) }
            return .success(RESTPayload(dataType: .binary, value: out.bytes))
        default:
            return .failure(
                Failure(
                    status: .unsupportedMediaType, code: "UnsupportedMediaType",
                    message: "Content-Type must be application/json, text/plain or application/octet-stream"))
        }
    }

    /// `type/subtype` lower-cased, parameters (charset) dropped.
    static func mediaType(_ header: String) -> String {
        let bare = header.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return bare.trimmingSpaces.lowercased()
    }
}

/// The body of `:addToGroups` / `:removeFromGroups`.
struct GroupsRequest {
    var groups: [String]
    var filter: String?

    static func decode(_ body: [UInt8]) -> GroupsRequest? {
        body.withUnsafeBytes { bytes -> GroupsRequest? in
            var groups: [String]?
            var filter: String?
            var valid = true
            do {
                try JSON.scanObject(bytes) { key, value throws(JSONError) in
                    if JSON.stringEquals(bytes, key, "groups") {
                        guard value.kind == .array else { valid = false; return }
                        var names: [String] = []
                        JSON.forEachElement(bytes, in: value) { element in
                            if let name = JSON.string(bytes, element) { names.append(name) } else { valid = false }
                        }
                        groups = names
                    } else if JSON.stringEquals(bytes, key, "filter") {
                        if value.kind == .null { return }
                        guard let text = JSON.string(bytes, value) else { valid = false; return }
                        filter = text
                    }
                }
            } catch {
                return nil
            }
            guard valid, let groups else { return nil }
            return GroupsRequest(groups: groups, filter: filter)
        }
    }
}

/// One page of `GET /groups/{group}/connections`, ordered by connection id; the
/// continuation token is the last id of the previous page.
struct ConnectionPage {
    var items: [LoopHub.ConnectionInfo]
    var next: String?
    /// How many more the caller's `top` allows after this page.
    var topLeft: Int?

    init(all: [LoopHub.ConnectionInfo], after: String?, pageSize: Int, top: Int?) {
        let sorted = all.sorted { $0.connectionId < $1.connectionId }
        let remaining = after.map { token in sorted.filter { $0.connectionId > token } } ?? sorted
        items = Array(remaining.prefix(pageSize))
        let more = remaining.count > items.count && (top.map { $0 > items.count } ?? true)
        next = more ? items.last?.connectionId : nil
        topLeft = top.map { $0 - items.count }
    }

    func answer(origin: String, hub: String, group: String, apiVersion: String?) -> HTTPAnswer {
        var body = OutputBuffer(capacity: 64 + items.count * 80)
        body.append(#"{"value":["#)
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(",") }
            body.append(#"{"connectionId":"#)
            JSONWriter.appendString(item.connectionId, to: &body)
            body.append(#","userId":"#)
            if let user = item.userId { JSONWriter.appendString(user, to: &body) } else { body.append("null") }
            body.append("}")
        }
        body.append(#"],"nextLink":"#)
        if let next {
            var link =
                origin + "/api/hubs/" + HTTPPercent.encodeSegment(hub) + "/groups/" + HTTPPercent.encodeSegment(group)
            link += "/connections?maxpagesize=\(items.count)&continuationToken=" + HTTPPercent.encodeSegment(next)
            if let topLeft { link += "&top=\(topLeft)" }
            if let apiVersion { link += "&api-version=" + HTTPPercent.encodeSegment(apiVersion) }
            JSONWriter.appendString(link, to: &body)
        } else {
            body.append("null")
        }
        body.append("}")
        return HTTPAnswer(.ok, body: body.bytes)
    }
}
