using System.CommandLine;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary><c>probe layers</c>: every module with its type, parameter count and output shape for one input.</summary>
internal static class LayersCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Model(required: true);
        var weights = CliOptions.Weights();
        var json = CliOptions.Json();
        var cmd = new Command("layers", "List every module of a model: name, type, parameters, output shape for one sample.") { model, weights, json };
        cmd.SetAction(p =>
        {
            var (spec, module) = CliOptions.LoadModel(p.GetValue(model)!, p.GetValue(weights), seed: 0);
            using var _ = module;
            var rows = ModelInspector.Describe(module, spec.InputShape);
            if (p.GetValue(json)) { ctx.Out.WriteLine(JsonOutput.Serialize(new { model = spec.ToString(), inputShape = spec.InputShape, modules = rows })); return ExitCodes.Ok; }
            ctx.Out.WriteLine($"{spec}  (input: [{string.Join(", ", spec.InputShape)}] per sample)");
            ctx.Out.Write(TextTable.Render(new[] { "name", "type", "parameters", "output shape" },
                rows.Select(r => (IReadOnlyList<string>)new[]
                {
                    r.Name.Length == 0 ? "(model)" : new string(' ', 2 * Math.Max(0, r.Depth - 1)) + r.Name,
                    r.TypeName, r.Parameters.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    r.OutputShape == null ? "-" : "[" + string.Join(", ", r.OutputShape) + "]",
                })));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
