public import WPSBytes

/// Builds HTTP/1.1 response heads and small complete responses as bytes.
public enum HTTPResponse {
    /// Appends the status line, `headers`, `Content-Length` (when given and the status allows a
    /// body), `Connection: close` (when `close`) and the empty line ending the head.
    ///
    /// CR, LF and NUL inside names or values are written as spaces so a value can never
    /// inject a header.
    public static func writeHead(
        status: HTTPStatus,
        headers: HTTPHeaders = HTTPHeaders(),
        contentLength: Int? = nil,
        close: Bool = false,
        into out: inout OutputBuffer
    ) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(status.code)
        out.append(HTTPBytes.sp)
        appendSanitized(status.reasonPhrase, to: &out)
        out.append("\r\n")
        for field in headers {
            appendSanitized(field.name, to: &out)
            out.append(": ")
            appendSanitized(field.value, to: &out)
            out.append("\r\n")
        }
        if let contentLength, !status.forbidsBody {
            out.append("Content-Length: ")
            out.appendDecimal(contentLength)
            out.append("\r\n")
        }
        if close { out.append("Connection: close\r\n") }
        out.append("\r\n")
    }

    /// The bytes of a response head; see `writeHead`.
    public static func head(
        status: HTTPStatus,
        headers: HTTPHeaders = HTTPHeaders(),
        contentLength: Int? = nil,
        close: Bool = false
    ) -> [UInt8] {
        var out = OutputBuffer()
        writeHead(status: status, headers: headers, contentLength: contentLength, close: close, into: &out)
        return out.bytes
    }

    /// Appends a complete response: `extraHeaders`, `Content-Type: <contentType>`,
    /// `Content-Length`, optional `Connection: close`, then `body` (omitted for 1xx/204/304).
    public static func write(
        status: HTTPStatus,
        body: some Collection<UInt8>,
        contentType: String,
        close: Bool = false,
        extraHeaders: HTTPHeaders = HTTPHeaders(),
        into out: inout OutputBuffer
    ) {
        var headers = extraHeaders
        if !status.forbidsBody { headers.add(name: "Content-Type", value: contentType) }
        writeHead(status: status, headers: headers, contentLength: body.count, close: close, into: &out)
        if !status.forbidsBody { out.append(contentsOf: body) }
    }

    /// A complete plain-text response (`Content-Type: text/plain; charset=utf-8`).
    public static func canned(
        status: HTTPStatus,
        body: String,
        close: Bool = false,
        extraHeaders: HTTPHeaders = HTTPHeaders()
    ) -> [UInt8] {
        var out = OutputBuffer(capacity: 128 + body.utf8.count)
        write(
            status: status, body: body.utf8, contentType: "text/plain; charset=utf-8", close: close,
            extraHeaders: extraHeaders, into: &out)
        return out.bytes
    }

    /// The response to a request the parser refused: its status, the reason as the body,
    /// and `Connection: close` (protocol-spec/http.md §6).
    public static func error(_ error: HTTPParseError, extraHeaders: HTTPHeaders = HTTPHeaders()) -> [UInt8] {
        canned(status: error.status, body: error.reason + "\n", close: true, extraHeaders: extraHeaders)
    }

    private static func appendSanitized(_ text: String, to out: inout OutputBuffer) {
        for byte in text.utf8 {
            out.append(byte == HTTPBytes.cr || byte == HTTPBytes.lf || byte == 0 ? HTTPBytes.sp : byte)
        }
    }
}
