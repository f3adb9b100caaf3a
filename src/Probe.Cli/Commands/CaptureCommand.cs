using System.CommandLine;
using Probe.Capture;
using Probe.Data;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary><c>probe capture</c>: writes each selected layer's activations to DIR/&lt;layer&gt;.npy.</summary>
internal static class CaptureCommand
{
    public static Command Create(CliContext ctx)
    {
        var models = new ModelOptions();
        var data = CliOptions.Data();
        var input = new Option<string[]>("--input")
        {
            Description = "Inputs as .npy: FILE.npy (the model's input, one row per sample, instead of --data), or NAME=FILE.npy per graph input of an ONNX model with several inputs (repeat the option; int64 token ids stay int64); beside --data every --input is named, and the data feeds the input left over.",
            AllowMultipleArgumentsPerToken = false,
        };
        input.Check(t => CliOptions.ExistingFile(CliOptions.SplitInput(t).Path));
        var layers = CliOptions.Layers();
        var reduce = CliOptions.Reduce();
        var maxSamples = CliOptions.MaxSamples();
        var seed = CliOptions.Seed();
        var batch = CliOptions.BatchSize();
        var outDir = CliOptions.Out(required: true, "Folder for <layer>.npy, labels.npy, layers.json and, with --max-samples, rows.npy (the data rows taken); replaced as a whole when the capture is complete.");
        var force = new Option<bool>("--force") { Description = "Replace --out even when it is not an earlier capture folder." };
        var cmd = new Command("capture", "Record per-layer activations of a model on a data set into .npy files.")
            { data, input, layers, reduce, maxSamples, seed, batch, outDir, force };
        models.AddTo(cmd, actsDir: false, inputs: false);  // capture's own --input also takes the data's array
        var shard = ShardFiles.Option();
        cmd.Add(shard);
        cmd.Validators.Add(r =>
        {
            if (!models.HasModel(r)) r.AddError("Option '--model' is required.");
            models.Validate(r, input);
            var inputs = r.GetValue(input) ?? [];
            int unnamed = inputs.Count(i => CliOptions.SplitInput(i).Name == null);
            bool hasData = r.GetResult(data) != null;
            // The data comes from --data or from --input (an unnamed one, else the first named one that is not the
            // token mask); with --data, every --input is a named side array, as on the other commands.
            if (!hasData && inputs.Length == 0) r.AddError("Give the data: --data DATA, or --input X.npy.");
            if (hasData && unnamed > 0) r.AddError("Give the data once: --data, or an unnamed --input X.npy, not both; name the other inputs: --input NAME=FILE.npy.");
            if (unnamed > 1) r.AddError("Give at most one unnamed --input (the data); name the others: --input NAME=FILE.npy.");
            if (r.GetResult(shard) != null && r.GetResult(maxSamples) != null) r.AddError("--shard covers its own slice of the data; drop --max-samples.");
        });
        CliOptions.ReplaceableCapture(cmd, outDir, force);
        cmd.SetAction(p =>
        {
            // The data set feeds the unnamed --input (or the first named one that is not the token mask); other named
            // inputs are side arrays.
            string? mask = models.TokenMaskOf(p);
            var (fed, side) = p.GetValue(data) != null
                ? (null, CliOptions.NamedArrays(p.GetValue(input) ?? []))
                : CliOptions.FeedAndSide(p.GetValue(input) ?? [], mask);
            var feed = fed ?? default;
            IDataset dataset = CliOptions.OpenData(feed.Path is string x ? "npy:" + x : p.GetValue(data)!);
            using var _d = dataset as IDisposable;
            using var source = models.Open(p, p.GetValue(seed), side.Count > 0 ? side : null, feed.Name);
            CliOptions.CheckLayout(source, dataset, p.GetValue(models.Model));
            bool sampled = false;
            if (p.GetValue(maxSamples) is int max && max < dataset.Count)
            {
                dataset = dataset.Subset(SampleChooser.Choose(dataset.Count, max, p.GetValue(seed)));
                sampled = true;
            }
            Shard? part = p.GetValue(shard) is string st ? Shard.Parse(st) : null;
            int total = dataset.Count, start = 0;
            if (part != null)
            {
                (start, _) = part.Range(total, p.GetValue(batch));
                dataset = part.Slice(dataset, p.GetValue(batch));
            }
            string dir = p.GetValue(outDir)!;
            // Written into a hidden staging folder that replaces the folder when complete: Ctrl-C leaves no partial .npy,
            // and no file of an earlier capture (another layer, another sample count) lingers beside the new ones.
            using var staged = ctx.Stage(dir, folder: true, replace: true);
            var capture = new ActivationCapture(new LayerSelector(p.GetValue(layers)!), p.GetValue(reduce), BatchSize: p.GetValue(batch))
            {
                Cancellation = ctx.Cancel,
                Progress = ctx.Report("capture"),
                TokenMask = mask,
            };
            CaptureSummary summary;
            IReadOnlyDictionary<string, string> files;
            using (var sink = new NpySink(staged.Path))
            {
                summary = capture.Run(source, dataset, sink);
                files = sink.Files;
            }
            // Which rows of the data --max-samples took (sorted), so the captured rows line up with the user's own.
            if (sampled) Npy.Write(Path.Combine(staged.Path, NpySink.RowsFile), Enumerable.Range(0, dataset.Count).Select(dataset.OriginalRow).ToArray());
            JsonOutput.Write(Path.Combine(staged.Path, "layers.json"), new
            {
                samples = summary.Samples,
                rows = sampled ? NpySink.RowsFile : null,
                reduce = capture.Reduce.ToString().ToLowerInvariant(),
                // The input whose mask pooled sequence sites over real tokens (each such layer says so: tokenMask).
                tokenMask = capture.TokenMask,
                // Its rows for the folder's samples ([N, T], 1 = real token): a flattened sequence layer keeps padding tokens,
                // which probe dead --acts-dir leaves out with them.
                tokenMaskFile = capture.TokenMask != null ? TokenMask.FileName : null,
                // The source's class names (index = label in labels.npy), so figures and tables made from the folder name them.
                classes = dataset.Labels != null ? dataset.ClassNames : null,
                // layout: the op type that decides a [T, D] / [C, L] output's layout when it is not the layer's own (an ONNX Relu after a Conv: "Conv").
                layers = summary.Layers.Select(l => new { l.Name, type = l.ModuleType, layout = l.LayoutType, activation = l.ActivationType, tokenMask = l.TokenMask, outputShape = l.OutputShape, l.Features, l.Order, file = files[l.Name], nonFinite = summary.NonFiniteOutputs[l.Name] }),
            }, "layers.json");
            if (part != null)
                ShardFiles.Write(staged.Path, ShardFiles.Capture, part, start, dataset.Count, total, feed.Path ?? p.GetValue(data)!, summary.LayerNames.ToArray(), p);
            staged.Commit();
            foreach (var l in summary.Layers)
            {
                long bad = summary.NonFiniteOutputs[l.Name];
                ctx.Out.WriteLine($"{l.Name,-16} {l.ModuleType,-12} {summary.Samples} x {l.Features}" + (bad > 0 ? $"  WARNING: {bad} non-finite values" : ""));
            }
            ctx.Out.WriteLine($"Wrote {summary.Layers.Count} layer file(s){(dataset.Labels != null ? ", labels.npy" : "")} and layers.json to {dir}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
