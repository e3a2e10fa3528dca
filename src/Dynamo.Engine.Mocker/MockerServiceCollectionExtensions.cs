using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dynamo.Engine.Mocker;

public static class MockerServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="MockerEngine"/> as the <see cref="IEngine"/>, with <see cref="MockerOptions"/> bound
    /// from <c>Dynamo:Mocker</c>, then <paramref name="configure"/>, validated at start-up. Uses the container's
    /// <see cref="TimeProvider"/> and <see cref="IKvEventSink"/> when registered.
    /// </summary>
    public static IServiceCollection AddDynamoMocker(this IServiceCollection services, Action<MockerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<MockerOptions> options = services.AddOptions<MockerOptions>().BindConfiguration("Dynamo:Mocker");
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MockerOptions>, MockerOptionsValidator>());
        options.ValidateOnStart();
        services.TryAddSingleton(sp => new MockerEngine(
            sp.GetRequiredService<IOptions<MockerOptions>>().Value,
            sp.GetService<TimeProvider>(),
            sp.GetService<IKvEventSink>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger<MockerEngine>()));
        services.TryAddSingleton<IEngine>(sp => sp.GetRequiredService<MockerEngine>());
        return services;
    }

    private sealed class MockerOptionsValidator : IValidateOptions<MockerOptions>
    {
        public ValidateOptionsResult Validate(string? name, MockerOptions options) =>
            options.FirstError() is string error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
