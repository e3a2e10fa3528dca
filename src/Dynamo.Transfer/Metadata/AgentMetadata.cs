using System.Buffers.Binary;
using System.Text;

namespace Dynamo.Transfer.Metadata;

/// <summary>
/// What a peer needs to reach an agent and address its memory (NIXL's <c>getLocalMD</c> blob): the agent's name and
/// incarnation, one endpoint per backend, and every registered region with its keys. Published once through
/// discovery and cached by peers; transfer requests then carry only descriptors. <see cref="ToBytes"/> and
/// <see cref="Parse"/> are the wire form; <see cref="Parse"/> validates everything, because the bytes come from
/// the network.
/// </summary>
public sealed record AgentMetadata
{
    private const uint Magic = 0x4D415844; // "DXAM"
    private const ushort Version = 1;
    internal const int MaxNameBytes = 256;
    internal const int MaxBlobBytes = 1 << 16;
    internal const int MaxRegions = 1 << 16;

    public required string Name { get; init; }

    /// <summary>Random per agent instance: a restarted peer has a new one, so cached metadata for the old one is detected as stale.</summary>
    public required Guid Incarnation { get; init; }

    /// <summary>The owner's process id (the in-process backend only serves agents of the same process).</summary>
    public int ProcessId { get; init; }

    public IReadOnlyList<BackendEndpoint> Endpoints { get; init; } = [];

    public IReadOnlyList<RegionMetadata> Regions { get; init; } = [];

    public BackendEndpoint? EndpointFor(TransferBackendKind kind)
    {
        foreach (var e in Endpoints)
        {
            if (e.Kind == kind)
            {
                return e;
            }
        }

        return null;
    }

    public RegionMetadata? FindRegion(int id)
    {
        foreach (var r in Regions)
        {
            if (r.Id == id)
            {
                return r;
            }
        }

        return null;
    }

    public byte[] ToBytes()
    {
        var name = Encoding.UTF8.GetBytes(Name);
        var size = 4 + 2 + 2 + name.Length + 16 + 4 + 2 + 4;
        foreach (var e in Endpoints)
        {
            size += 1 + 4 + e.Address.Length;
        }

        foreach (var r in Regions)
        {
            size += 4 + 8 + 8 + 1 + 1;
            foreach (var k in r.Keys)
            {
                size += 1 + 4 + k.Key.Length;
            }
        }

        var buffer = new byte[size];
        var w = new Writer(buffer);
        w.U32(Magic);
        w.U16(Version);
        w.U16((ushort)name.Length);
        w.Bytes(name);
        Incarnation.TryWriteBytes(w.Take(16));
        w.I32(ProcessId);
        w.U16((ushort)Endpoints.Count);
        foreach (var e in Endpoints)
        {
            w.U8((byte)e.Kind);
            w.U32((uint)e.Address.Length);
            w.Bytes(e.Address);
        }

        w.U32((uint)Regions.Count);
        foreach (var r in Regions)
        {
            w.I32(r.Id);
            w.U64(r.Address);
            w.U64(r.Length);
            w.U8((byte)r.Access);
            w.U8((byte)r.Keys.Count);
            foreach (var k in r.Keys)
            {
                w.U8((byte)k.Kind);
                w.U32((uint)k.Key.Length);
                w.Bytes(k.Key);
            }
        }

        return buffer;
    }

    /// <summary>Reads metadata from the wire form. Throws <see cref="FormatException"/> naming the first bad field.</summary>
    public static AgentMetadata Parse(ReadOnlySpan<byte> data)
    {
        var r = new Reader(data);
        if (r.U32("magic") != Magic)
        {
            throw new FormatException("Agent metadata: bad magic (not a transfer agent's metadata).");
        }

        var version = r.U16("version");
        if (version != Version)
        {
            throw new FormatException($"Agent metadata: version {version} is not supported (expected {Version}).");
        }

        var nameLength = r.U16("name length");
        if (nameLength is 0 or > MaxNameBytes)
        {
            throw new FormatException($"Agent metadata: name length {nameLength} outside 1..{MaxNameBytes}.");
        }

        var name = Encoding.UTF8.GetString(r.Take(nameLength, "name"));
        var incarnation = new Guid(r.Take(16, "incarnation"));
        var pid = r.I32("process id");
        var endpointCount = r.U16("endpoint count");
        var endpoints = new List<BackendEndpoint>(endpointCount);
        for (var i = 0; i < endpointCount; i++)
        {
            var kind = Kind(r.U8("endpoint kind"), $"endpoint {i}");
            var length = r.U32("endpoint length");
            if (length > MaxBlobBytes)
            {
                throw new FormatException($"Agent metadata: endpoint {i} is {length} bytes (limit {MaxBlobBytes}).");
            }

            endpoints.Add(new BackendEndpoint(kind, r.Take((int)length, "endpoint").ToArray()));
        }

        var regionCount = r.U32("region count");
        if (regionCount > MaxRegions)
        {
            throw new FormatException($"Agent metadata: {regionCount} regions (limit {MaxRegions}).");
        }

        var regions = new List<RegionMetadata>((int)regionCount);
        var ids = new HashSet<int>();
        for (var i = 0; i < regionCount; i++)
        {
            var id = r.I32("region id");
            var address = r.U64("region address");
            var length = r.U64("region length");
            if (length == 0 || address + length < address)
            {
                throw new FormatException($"Agent metadata: region {id} 0x{address:x}+{length} is empty or wraps the address space.");
            }

            if (!ids.Add(id))
            {
                throw new FormatException($"Agent metadata: region id {id} appears twice.");
            }

            var access = r.U8("region access");
            if (access > (byte)RemoteAccess.ReadWrite)
            {
                throw new FormatException($"Agent metadata: region {id} has access flags {access}.");
            }

            var keyCount = r.U8("key count");
            var keys = new List<RegionKey>(keyCount);
            for (var k = 0; k < keyCount; k++)
            {
                var kind = Kind(r.U8("key kind"), $"region {id} key {k}");
                var keyLength = r.U32("key length");
                if (keyLength > MaxBlobBytes)
                {
                    throw new FormatException($"Agent metadata: region {id} key is {keyLength} bytes (limit {MaxBlobBytes}).");
                }

                keys.Add(new RegionKey(kind, r.Take((int)keyLength, "key").ToArray()));
            }

            regions.Add(new RegionMetadata { Id = id, Address = address, Length = length, Access = (RemoteAccess)access, Keys = keys });
        }

        if (!r.AtEnd)
        {
            throw new FormatException("Agent metadata: trailing bytes after the last region.");
        }

        return new AgentMetadata { Name = name, Incarnation = incarnation, ProcessId = pid, Endpoints = endpoints, Regions = regions };
    }

    public static bool TryParse(ReadOnlySpan<byte> data, out AgentMetadata? metadata, out string? error)
    {
        try
        {
            metadata = Parse(data);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            metadata = null;
            error = e.Message;
            return false;
        }
    }

    private static TransferBackendKind Kind(byte value, string what) =>
        value <= (byte)TransferBackendKind.Tcp
            ? (TransferBackendKind)value
            : throw new FormatException($"Agent metadata: {what} has unknown backend kind {value}.");

    public override string ToString() =>
        $"{Name} ({Incarnation:N}, pid {ProcessId}, {string.Join(", ", Endpoints)}, {Regions.Count} regions)";

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _position;

        public Span<byte> Take(int count)
        {
            var span = _buffer.Slice(_position, count);
            _position += count;
            return span;
        }

        public void U8(byte v) => Take(1)[0] = v;

        public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);

        public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);

        public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);

        public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);

        public void Bytes(ReadOnlySpan<byte> v) => v.CopyTo(Take(v.Length));
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public readonly bool AtEnd => _position == _data.Length;

        public ReadOnlySpan<byte> Take(int count, string what)
        {
            if (count < 0 || count > _data.Length - _position)
            {
                throw new FormatException($"Agent metadata: truncated at {what} (offset {_position}, {_data.Length} bytes).");
            }

            var span = _data.Slice(_position, count);
            _position += count;
            return span;
        }

        public byte U8(string what) => Take(1, what)[0];

        public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));

        public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

        public int I32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what));

        public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    }
}
