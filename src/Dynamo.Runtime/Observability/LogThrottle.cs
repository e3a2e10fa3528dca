namespace Dynamo.Runtime.Observability;

/// <summary>
/// At most one log line per key per interval, for events an outsider can cause at will (forged records, requests
/// without credentials): the first occurrence is logged, repeats within the interval are only counted, and the next
/// line says how many were skipped. Holds at most <c>maxKeys</c> keys, so a flood of distinct keys cannot grow it.
/// </summary>
public sealed class LogThrottle
{
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly int _maxKeys;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public LogThrottle(TimeSpan interval, TimeProvider? time = null, int maxKeys = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        _interval = interval;
        _time = time ?? TimeProvider.System;
        _maxKeys = maxKeys;
    }

    /// <summary>True when <paramref name="key"/> may be logged now; <paramref name="skipped"/> counts the repeats not logged since its last line.</summary>
    public bool ShouldLog(string key, out long skipped)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry) && _time.GetElapsedTime(entry.LastLogged, now) < _interval)
            {
                entry.Skipped++;
                skipped = 0;
                return false;
            }

            if (entry is null)
            {
                if (_entries.Count >= _maxKeys)
                {
                    // Many distinct keys at once: forget them all rather than grow; the worst case is one extra line per key.
                    _entries.Clear();
                }

                entry = new Entry();
                _entries.Add(key, entry);
            }

            skipped = entry.Skipped;
            entry.Skipped = 0;
            entry.LastLogged = now;
            return true;
        }
    }

    private sealed class Entry
    {
        public long LastLogged { get; set; }

        public long Skipped { get; set; }
    }
}
