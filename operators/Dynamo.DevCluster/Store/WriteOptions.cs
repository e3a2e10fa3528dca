namespace Dynamo.DevCluster.Store;

/// <summary>How unknown fields in a custom resource are treated (the <c>fieldValidation</c> query parameter).</summary>
public enum FieldValidation
{
    /// <summary>Dropped silently.</summary>
    Ignore,
    /// <summary>Dropped, with a warning per field.</summary>
    Warn,
    /// <summary>Refused with 400 naming the field (kubectl's default).</summary>
    Strict,
}

/// <summary>Per-request options of a create, update or patch.</summary>
public sealed class WriteOptions
{
    public bool DryRun { get; init; }
    public FieldValidation FieldValidation { get; init; } = FieldValidation.Warn;
    /// <summary>Warnings collected while admitting the write; the HTTP layer sends them as <c>Warning</c> headers.</summary>
    public List<string> Warnings { get; } = [];
}
