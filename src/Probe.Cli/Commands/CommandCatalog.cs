using System.CommandLine;

namespace Probe.Cli.Commands;

/// <summary>Every probe subcommand, in the order the help lists them.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> Create(CliContext ctx) => new Command[]
    {
        LayersCommand.Create(ctx),
        TrainCommand.Create(ctx),
        CaptureCommand.Create(ctx),
        DeadCommand.Create(ctx),
        SeparabilityCommand.Create(ctx),
        LinearProbeCommand.Create(ctx),
        ReportCommand.Create(ctx),
        CkaCommand.Create(ctx),
        CompareCommand.Create(ctx),
        SimilarityCommand.Create(ctx),
        ProjectCommand.Create(ctx),
        EvolutionCommand.Create(ctx),
        MergeCommand.Create(ctx),
        Demo.DemoCommand.Create(ctx),
    };
}
