using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace Dynamo.Engine.Safetensors;

/// <summary>Writes safetensors files: header padded to 8 bytes, tensors in the order given, converted to their dtype.</summary>
public static class SafetensorsWriter
{
    public static async Task WriteAsync(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        var header = BuildHeader(entries, metadata);
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            await stream.WriteAsync(prefix, cancellationToken);
            await stream.WriteAsync(header, cancellationToken);
            foreach (var entry in entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = checked((int)entry.ElementCount);
                var values = ArrayPool<float>.Shared.Rent(count);
                var bytes = ArrayPool<byte>.Shared.Rent(count * DTypeConversion.SizeOf(entry.DType));
                try
                {
                    var span = values.AsSpan(0, count);
                    entry.Fill(span);
                    var byteCount = count * DTypeConversion.SizeOf(entry.DType);
                    DTypeConversion.FromSingle(entry.DType, span, bytes.AsSpan(0, byteCount));
                    await stream.WriteAsync(bytes.AsMemory(0, byteCount), cancellationToken);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(values);
                    ArrayPool<byte>.Shared.Return(bytes);
                }
            }
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes as the reference writer does.</summary>
    internal static byte[] BuildHeader(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var entry in entries)
            {
                var bytes = entry.ElementCount * DTypeConversion.SizeOf(entry.DType);
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", DTypeConversion.Name(entry.DType));
                json.WriteStartArray("shape");
                foreach (var dimension in entry.Shape)
                {
                    json.WriteNumberValue(dimension);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }

            json.WriteEndObject();
        }

        var length = (int)buffer.Length;
        var padded = (length + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.GetBuffer().AsSpan(0, length).CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }
}
