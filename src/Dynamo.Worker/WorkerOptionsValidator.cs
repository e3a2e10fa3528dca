using System.Net;
using Microsoft.Extensions.Options;

namespace Dynamo.Worker;

/// <summary>Checks <see cref="WorkerOptions"/>; every failure names the configuration key and the bad value.</summary>
public sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
{
    private const string S = WorkerOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!IPAddress.TryParse(options.Host, out _))
        {
            errors.Add($"{S}:Host must be an IP address (127.0.0.1, 0.0.0.0, ::1, ...), got '{options.Host}'.");
        }

        if (options.Port is < 0 or > 65535)
        {
            errors.Add($"{S}:Port must be between 0 and 65535, got {options.Port}.");
        }

        if (options.AdvertisedHost is { } advertised && Uri.CheckHostName(advertised) == UriHostNameType.Unknown)
        {
            errors.Add($"{S}:AdvertisedHost must be a host name or an IP address, got '{advertised}'.");
        }

        if (!Enum.IsDefined(options.Role))
        {
            errors.Add($"{S}:Role must be Aggregated, Prefill or Decode, got '{options.Role}'.");
        }

        if (string.IsNullOrWhiteSpace(options.InstanceId))
        {
            errors.Add($"{S}:InstanceId must not be empty.");
        }

        if (options.ServedModelName is { } served && string.IsNullOrWhiteSpace(served))
        {
            errors.Add($"{S}:ServedModelName must not be blank when set.");
        }

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{S}:DrainTimeout must be between 0 and 1 hour, got {options.DrainTimeout}.");
        }

        if (options.LoadReportInterval < TimeSpan.Zero || options.LoadReportInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{S}:LoadReportInterval must be between 0 (off) and 1 minute, got {options.LoadReportInterval}.");
        }

        if (options.RequestLimits is null)
        {
            errors.Add($"{S}:RequestLimits must be set.");
        }
        else
        {
            errors.AddRange(options.RequestLimits.Validate($"{S}:RequestLimits"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
