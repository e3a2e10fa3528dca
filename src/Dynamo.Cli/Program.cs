using System.CommandLine;
using Dynamo.Cli.Commands;

var root = new RootCommand("Dynamo for .NET: a disaggregated, KV-cache-aware LLM inference orchestrator.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
root.Subcommands.Add(ConfigCommand.Create());
root.Subcommands.Add(FrontendCommand.Create());
root.Subcommands.Add(WorkerCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(SweepCommand.Create());
root.Subcommands.Add(ProfileCommand.Create());
root.Subcommands.Add(PlannerCommand.Create());
root.Subcommands.Add(OperatorCommand.Create());
root.Subcommands.Add(DevclusterCommand.Create());
return await root.Parse(args).InvokeAsync();
