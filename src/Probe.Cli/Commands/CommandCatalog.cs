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
        CkaCommand.Create(ctx),
        CompareCommand.Create(ctx),
        Demo.DemoCommand.Create(ctx),
    };
}
