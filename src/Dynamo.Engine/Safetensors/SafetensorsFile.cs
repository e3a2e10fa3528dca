using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace Dynamo.Engine.Safetensors;

/// <summary>
/// One memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw tensors. The header is checked against the file
/// size before any tensor is read, so a truncated or corrupt file is refused up front.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private bool _disposed;

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePointer, long length,
        Dictionary<string, SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        Length = length;
        _tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }

    public long Length { get; }

    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;

    /// <summary>The header's <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafetensorsFile Open(string path)
    {
        var length = new FileInfo(path).Length;
        if (length < 8)
        {
            throw new InvalidDataException($"{path}: {length} bytes is too short for a safetensors file (needs an 8-byte header length)");
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset;
            var (tensors, metadata) = ParseHeader(path, new ReadOnlySpan<byte>(pointer, (int)Math.Min(length, int.MaxValue)), length);
            return new SafetensorsFile(path, map, view, pointer, length, tensors, metadata);
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }

            map.Dispose();
            throw;
        }
    }

    public SafetensorsTensorInfo GetInfo(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new InvalidDataException($"{Path}: tensor '{name}' is missing");

    /// <summary>The raw bytes of one tensor, straight from the mapping.</summary>
    public ReadOnlySpan<byte> GetBytes(SafetensorsTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (info.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"{Path}: tensor '{info.Name}' is larger than 2 GiB");
        }

        return new ReadOnlySpan<byte>(_base + info.DataOffset, (int)info.ByteLength);
    }

    /// <summary>Reads a tensor as floats into <paramref name="destination"/>, converting from the stored dtype.</summary>
    public void ReadAsSingle(SafetensorsTensorInfo info, Span<float> destination)
    {
        if (destination.Length != info.ElementCount)
        {
            throw new ArgumentException($"tensor '{info.Name}' has {info.ElementCount} elements, destination has {destination.Length}", nameof(destination));
        }

        DTypeConversion.ToSingle(info.DType, GetBytes(info), destination);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _map?.Dispose();
    }

    private static (Dictionary<string, SafetensorsTensorInfo>, IReadOnlyDictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> file, long length)
    {
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes || (long)headerLength > length - 8)
        {
            throw new InvalidDataException($"{path}: header length {headerLength} does not fit in a file of {length} bytes (truncated or not safetensors)");
        }

        var dataStart = 8L + (long)headerLength;
        var dataLength = length - dataStart;
        var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(file.Slice(8, (int)headerLength).ToArray());
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}: header is not a JSON object");
            }

            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var entry in property.Value.EnumerateObject())
                        {
                            metadata[entry.Name] = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : entry.Value.GetRawText();
                        }
                    }

                    continue;
                }

                var info = ParseTensor(path, property, dataStart, dataLength);
                tensors.Add(info.Name, info);
                ranges.Add((info.DataOffset, info.DataOffset + info.ByteLength, info.Name));
            }

            ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            for (var i = 1; i < ranges.Count; i++)
            {
                if (ranges[i].Begin < ranges[i - 1].End)
                {
                    throw new InvalidDataException($"{path}: tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap");
                }
            }
        }

        return (tensors, metadata);
    }

    private static SafetensorsTensorInfo ParseTensor(string path, JsonProperty property, long dataStart, long dataLength)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement)
            || !value.TryGetProperty("shape", out var shapeElement)
            || !value.TryGetProperty("data_offsets", out var offsetsElement)
            || shapeElement.ValueKind != JsonValueKind.Array
            || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new InvalidDataException($"{path}: header entry for tensor '{name}' needs dtype, shape and data_offsets [begin, end]");
        }

        var dtypeText = dtypeElement.GetString() ?? string.Empty;
        if (!DTypeConversion.TryParse(dtypeText, out var dtype))
        {
            throw new InvalidDataException($"{path}: tensor '{name}' has dtype {dtypeText}; only F32, F16 and BF16 are supported");
        }

        var shape = shapeElement.EnumerateArray().Select(e => e.GetInt64()).ToArray();
        if (shape.Any(d => d < 0))
        {
            throw new InvalidDataException($"{path}: tensor '{name}' has a negative dimension in shape {Shapes.Format(shape)}");
        }

        var begin = offsetsElement[0].GetInt64();
        var end = offsetsElement[1].GetInt64();
        var elements = shape.Aggregate(1L, (a, b) => checked(a * b));
        var expectedBytes = elements * DTypeConversion.SizeOf(dtype);
        if (begin < 0 || end < begin || end - begin != expectedBytes)
        {
            throw new InvalidDataException($"{path}: tensor '{name}' {dtypeText} {Shapes.Format(shape)} needs {expectedBytes} bytes but data_offsets are [{begin}, {end}]");
        }

        if (end > dataLength)
        {
            throw new InvalidDataException($"{path}: tensor '{name}' ends at byte {end} of the data section but the file holds only {dataLength} data bytes (truncated)");
        }

        return new SafetensorsTensorInfo(name, dtype, shape, dataStart + begin, end - begin);
    }
}
