// SPDX-License-Identifier: Apache-2.0
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import ThreadLocals

// The per-request work, the same in every variant: decode the query (percent-decoding
// through a scratch buffer), build a catalog of items whose dates are formatted with a
// DateFormatter, encode it to about 1 KB of JSON with a JSONEncoder, and compute an ETag
// (hex digits written through the scratch buffer). The variants differ only in where
// the encoder, the formatter and the scratch buffer come from.

/// The objects a request needs that are costly to create: a JSON encoder, a date
/// formatter, and a scratch buffer.
final class RequestKit: @unchecked Sendable {
    // @unchecked Sendable: JSONEncoder and DateFormatter are not Sendable, and the
    // scratch buffer is mutable. An instance is only ever used by one thread at a time:
    // the thread that created it (ThreadLocal, ThreadSpecificVariable), the request that
    // created it (new objects per request), or the holder of the lock (Mutex). It crosses
    // threads only to be released, when nothing else uses it any more.
    let encoder: JSONEncoder
    let dateFormatter: DateFormatter
    var scratch: [UInt8]

    /// How many kits the process has created (reported by `/stats`).
    static let created = Atomic<Int>(0)

    init() {
        Self.created.add(1, ordering: .relaxed)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        dateFormatter = DateFormatter()
        dateFormatter.locale = Locale(identifier: "en_US_POSIX")
        dateFormatter.timeZone = TimeZone(secondsFromGMT: 0)
        dateFormatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSXXXXX"
        scratch = []
        scratch.reserveCapacity(1024)
    }
}

/// What a request asks for: `/items?user=Ada%20Lovelace&n=8`.
struct Query {
    var user = "anonymous"
    var count = 8
}

struct Item: Encodable {
    var id: Int
    var name: String
    var priceCents: Int
    var tags: [String]
    var updated: String
}

struct Catalog: Encodable {
    var user: String
    var generatedAt: String
    var count: Int
    var items: [Item]
}

/// A rendered response body and its ETag.
struct Rendered: Sendable {
    var body: ByteBuffer
    var etag: String
}

private let tagSets = [["new", "red"], ["sale"], ["blue", "large", "limited"], []]
/// 2026-01-01T00:00:00Z: items' update times are fixed, so bodies differ only in `generatedAt`.
private let epoch = Date(timeIntervalSince1970: 1_767_225_600)

/// Renders the response to a request for `uri` with the objects in `kit`.
/// Synchronous: it is called from async handlers, inside each variant's own access.
func render(uri: String, with kit: RequestKit) -> Rendered {
    let query = parseQuery(uri, scratch: &kit.scratch)
    var items: [Item] = []
    items.reserveCapacity(query.count)
    for index in 0..<query.count {
        items.append(
            Item(
                id: index,
                name: "\(query.user)'s item \(index)",
                priceCents: 199 + 250 * index,
                tags: tagSets[index % tagSets.count],
                updated: kit.dateFormatter.string(from: epoch.addingTimeInterval(Double(3600 * index)))
            )
        )
    }
    let catalog = Catalog(
        user: query.user,
        generatedAt: kit.dateFormatter.string(from: Date()),
        count: items.count,
        items: items
    )
    // Encoding these plain values cannot fail.
    let data = try! kit.encoder.encode(catalog)
    var body = ByteBuffer()
    body.reserveCapacity(data.count)
    body.writeBytes(data)
    return Rendered(body: body, etag: etag(of: data, scratch: &kit.scratch))
}

/// Parses `user` and `n` from the query string, percent-decoding through `scratch`.
func parseQuery(_ uri: String, scratch: inout [UInt8]) -> Query {
    var query = Query()
    guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return query }
    let parameters = uri.utf8[uri.utf8.index(after: mark)...]
    for pair in parameters.split(separator: UInt8(ascii: "&")) {
        guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let name = pair[..<equals]
        scratch.removeAll(keepingCapacity: true)
        percentDecode(pair[pair.index(after: equals)...], into: &scratch)
        if name.elementsEqual("user".utf8) {
            query.user = String(decoding: scratch, as: UTF8.self)
        } else if name.elementsEqual("n".utf8), let count = Int(String(decoding: scratch, as: UTF8.self)) {
            query.count = min(max(count, 0), 64)
        }
    }
    return query
}

/// Appends the percent-decoded `bytes` (`+` is a space) to `output`.
func percentDecode(_ bytes: Substring.UTF8View.SubSequence, into output: inout [UInt8]) {
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%"),
            let high = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex),
            let low = bytes.index(index, offsetBy: 2, limitedBy: bytes.endIndex),
            low < bytes.endIndex,
            let h = hexValue(bytes[high]), let l = hexValue(bytes[low])
        {
            output.append(h << 4 | l)
            index = bytes.index(after: low)
            continue
        }
        output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
        index = bytes.index(after: index)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A strong ETag: the 64-bit FNV-1a hash of the body, in hex digits written through `scratch`.
func etag(of data: Data, scratch: inout [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data {
        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    let digits = Array("0123456789abcdef".utf8)
    scratch.removeAll(keepingCapacity: true)
    scratch.append(UInt8(ascii: "\""))
    for shift in stride(from: 60, through: 0, by: -4) {
        scratch.append(digits[Int((hash >> UInt64(shift)) & 0xf)])
    }
    scratch.append(UInt8(ascii: "\""))
    return String(decoding: scratch, as: UTF8.self)
}

// MARK: - Where the objects come from

/// The ways of keeping a `RequestKit`, chosen at start-up.
enum Variant: String, CaseIterable, Sendable {
    /// One kit per thread in a `ThreadLocal`.
    case threadLocal = "threadlocal"
    /// A new kit for every request.
    case perRequest = "per-request"
    /// One kit for the whole process, behind a `Mutex`.
    case mutex = "mutex"
    /// One kit per thread in swift-nio's `ThreadSpecificVariable`.
    case nioThreadSpecific = "nio-tsv"

    /// Renders the response to `uri` with this variant's kit. Synchronous, so that
    /// the thread cannot change while a per-thread kit is in use.
    func render(uri: String) -> Rendered {
        switch self {
        case .threadLocal: renderWithThreadLocal(uri: uri)
        case .perRequest: renderWithNewKit(uri: uri)
        case .mutex: renderWithSharedKit(uri: uri)
        case .nioThreadSpecific: renderWithThreadSpecificVariable(uri: uri)
        }
    }
}

private let threadLocalKits = ThreadLocal { RequestKit() }

/// The kit of the calling thread, lent to `render` inside `withValue` (whose closure
/// cannot suspend, so the kit stays on its thread).
func renderWithThreadLocal(uri: String) -> Rendered {
    threadLocalKits.withValue { render(uri: uri, with: $0) }
}

func renderWithNewKit(uri: String) -> Rendered {
    render(uri: uri, with: RequestKit())
}

private let sharedKit = Mutex(RequestKit())

/// The whole rendering runs under the lock: the kit's objects are not thread-safe.
func renderWithSharedKit(uri: String) -> Rendered {
    sharedKit.withLock { render(uri: uri, with: $0) }
}

private let threadSpecificKits = ThreadSpecificVariable<RequestKit>()

/// `ThreadSpecificVariable.currentValue` is `noasync` too.
func renderWithThreadSpecificVariable(uri: String) -> Rendered {
    if let kit = threadSpecificKits.currentValue {
        return render(uri: uri, with: kit)
    }
    let kit = RequestKit()
    threadSpecificKits.currentValue = kit
    return render(uri: uri, with: kit)
}
