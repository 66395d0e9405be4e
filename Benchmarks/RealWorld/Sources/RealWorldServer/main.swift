// SPDX-License-Identifier: Apache-2.0
// An HTTP/1.1 server on 127.0.0.1 for load tests of per-request objects kept in four ways.
//
//     RealWorldServer VARIANT [--port N]      VARIANT: threadlocal | per-request | mutex | nio-tsv
//
// Routes:
//   GET /items?user=NAME&n=COUNT   about 1 KB of JSON (8 items), rendered by the variant
//   GET /stats                     "requests N" (items served), "mallocs M" (see MallocCount.swift),
//                                  "kits K" (RequestKits created: encoder, formatter, buffer)
//   GET /metrics                   the request counter in the Prometheus text format
//
// Prints "listening on 127.0.0.1:PORT" once it accepts connections (port 0: any free port).

import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import ThreadLocalMetrics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

func usage() -> Never {
    let names = Variant.allCases.map(\.rawValue).joined(separator: " | ")
    print("usage: RealWorldServer \(names) [--port N]")
    exit(2)
}

var arguments = CommandLine.arguments.dropFirst()
guard let name = arguments.popFirst(), let variant = Variant(rawValue: name) else { usage() }
var port = 0
while let argument = arguments.popFirst() {
    guard argument == "--port", let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
    port = value
}

/// What every connection needs: the variant and the metrics.
struct App: Sendable {
    let variant: Variant
    let metrics: ThreadLocalMetricsFactory
    let requestsServed: Counter
}

let metrics = ThreadLocalMetricsFactory()
MetricsSystem.bootstrap(metrics)
let app = App(
    variant: variant,
    metrics: metrics,
    requestsServed: Counter(label: "http_requests_total", dimensions: [("variant", variant.rawValue)])
)

/// The response to one request. Async, like a handler in any Swift server framework;
/// the variant's per-thread access happens inside the synchronous `Variant.render`.
func respond(to head: HTTPRequestHead, app: App) async -> (HTTPResponseStatus, String, ByteBuffer, etag: String?) {
    let (variant, metrics) = (app.variant, app.metrics)
    let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
    switch (head.method, path) {
    case (.GET, "/items"):
        let rendered = variant.render(uri: head.uri)
        app.requestsServed.increment()
        return (.ok, "application/json", rendered.body, rendered.etag)
    case (.GET, "/stats"):
        let requests = metrics.counterValue(label: "http_requests_total", dimensions: [("variant", variant.rawValue)])
        let text = """
            requests \(requests ?? 0)
            mallocs \(MallocCount.total.map(String.init) ?? "unavailable")
            kits \(RequestKit.created.load(ordering: .relaxed))

            """
        return (.ok, "text/plain", ByteBuffer(string: text), nil)
    case (.GET, "/metrics"):
        return (.ok, "text/plain; version=0.0.4", ByteBuffer(string: metrics.exposition()), nil)
    default:
        return (.notFound, "text/plain", ByteBuffer(string: "not found\n"), nil)
    }
}

func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, app: App) async {
    // Errors end this connection only (a client that goes away, a malformed request).
    try? await connection.executeThenClose { inbound, outbound in
        var request: HTTPRequestHead?
        for try await part in inbound {
            switch part {
            case .head(let head):
                request = head
            case .body:
                continue
            case .end:
                guard let head = request else { continue }
                request = nil
                let (status, contentType, body, etag) = await respond(to: head, app: app)
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: contentType)
                headers.add(name: "content-length", value: String(body.readableBytes))
                if let etag { headers.add(name: "etag", value: etag) }
                if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
                let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
                try await outbound.write(contentsOf: [.head(response), .body(.byteBuffer(body)), .end(nil)])
                if !head.isKeepAlive { return }
            }
        }
    }
}

let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .bind(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                wrappingChannelSynchronously: channel
            )
        }
    }

print("listening on 127.0.0.1:\(server.channel.localAddress?.port ?? port) variant=\(variant.rawValue)")
fflush(nil)  // every stream; the script waits for this line

try await withThrowingDiscardingTaskGroup { group in
    try await server.executeThenClose { connections in
        for try await connection in connections {
            group.addTask { await handle(connection, app: app) }
        }
    }
}
