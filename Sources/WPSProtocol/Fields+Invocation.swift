import WPSBytes

/// `invoke` and `cancelInvocation` (protocol-spec/client-protocol.md §2, §3).
extension Fields {
    /// `invocationId`: a JSON string of 1 … `maxInvocationIdBytes` UTF-8 bytes. Without a
    /// valid id there is nothing to answer, so the request is ignored.
    func invocationIdentifier(_ frame: UnsafeRawBufferPointer) -> Result<String, ClientRequestError> {
        guard let token = invocationId else {
            return .failure(.badRequest(ackId: nil, message: "invocationId is required"))
        }
        guard let id = JSON.string(frame, token) else {
            return .failure(.badRequest(ackId: nil, message: "invocationId must be a string"))
        }
        guard !id.isEmpty, id.utf8.count <= ClientRequestDecoder.maxInvocationIdBytes else {
            return .failure(
                .badRequest(
                    ackId: nil,
                    message: "invocationId must be 1 to \(ClientRequestDecoder.maxInvocationIdBytes) bytes"))
        }
        return .success(id)
    }

    /// An `invoke`: the id first, so every later error can be answered under it; then
    /// `target` (only `event`), the event name, and `dataType`/`data` as for `event`, except
    /// that `data` may be absent.
    func invocation(_ frame: UnsafeRawBufferPointer) -> Result<ClientRequest, ClientRequestError> {
        let id: String
        switch invocationIdentifier(frame) {
        case .failure(let error): return .failure(error)
        case .success(let value): id = value
        }
        func answered(_ error: ClientRequestError) -> ClientRequestError {
            guard case .badRequest(_, let message) = error else { return error }
            return .badInvocation(invocationId: id, message: message)
        }
        guard let target, JSON.stringEquals(frame, target, "event", caseInsensitive: true) else {
            return .failure(.badInvocation(invocationId: id, message: "target must be 'event'"))
        }
        let name: String
        switch eventName(frame, nil) {
        case .failure(let error): return .failure(answered(error))
        case .success(let value): name = value
        }
        guard data != nil else {
            // No data: an empty body; only the type is checked.
            var type = DataType.json
            if let token = dataType, token.kind != .null {
                guard let parsed = DataType.parse(frame, token) else {
                    return .failure(
                        .badInvocation(
                            invocationId: id, message: "dataType must be one of json, text, binary, protobuf"))
                }
                type = parsed
            }
            return .success(.invoke(invocationId: id, event: name, dataType: type, data: nil))
        }
        switch payload(frame, nil, allowsNull: true) {
        case .failure(let error): return .failure(answered(error))
        case .success(let (type, range)):
            return .success(.invoke(invocationId: id, event: name, dataType: type, data: range))
        }
    }
}
