using System.CommandLine;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe merge PART... --out DIR</c>: combines the folders written by <c>--shard i/n</c> runs of <c>capture</c>,
/// <c>dead</c> or minibatch <c>cka</c> into exactly what one process over the whole data set writes: captured rows
/// concatenated in shard order, dead-unit counters added (identical counts), minibatch HSIC sums added.
/// </summary>
internal static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var parts = new Argument<string[]>("parts") { Description = "The shard folders (every shard 0..n-1 of one run, in any order).", Arity = ArgumentArity.OneOrMore };
        parts.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (CliOptions.ExistingFolder(t.Value) is string e) { r.AddError("Shard " + e); return; }
        });
        var outDir = CliOptions.Out(required: true, "Folder for the merged result (capture: <layer>.npy, labels.npy, layers.json; dead: dead.json; cka: cka.json and heatmap).");
        var json = CliOptions.Json();
        var force = new Option<bool>("--force") { Description = "Merging captures: replace --out even when it is not an earlier capture folder." };
        var cmd = new Command("merge", "Combine the partial results of 'probe capture|dead|cka --shard i/n' runs into the result of one run.") { parts, outDir, json, force };
        var fig = new FigureOptions(); fig.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var dirs = p.GetValue(parts)!;
            string kind = Kind(dirs);
            string output = p.GetValue(outDir)!;
            switch (kind)
            {
                case ShardFiles.Dead:
                    {
                        var all = ShardFiles.Complete(dirs.Select(d => (d, ShardFiles.Read<DeadUnitPartial>(Path.Combine(d, kind)))));
                        var result = DeadUnitStudy.Finish(DeadUnitPartial.Merge(all.Select(a => a.State).ToList()));
                        string text = JsonOutput.Serialize(DeadUnitFigures.Json(result, null), "the dead-unit result");
                        Directory.CreateDirectory(output);
                        AtomicWrite(Path.Combine(output, "dead.json"), text + "\n");
                        if (p.GetValue(json)) ctx.Out.WriteLine(text);
                        else DeadCommand.Print(ctx.Out, $"Dead units, {all.Count} shards merged", result, null);
                        break;
                    }
                case ShardFiles.Cka:
                    {
                        var all = ShardFiles.Complete(dirs.Select(d => (d, ShardFiles.Read<MinibatchCkaState>(Path.Combine(d, kind)))));
                        using var acc = MinibatchCka.FromState(all[0].State);
                        foreach (var a in all.Skip(1)) acc.Absorb(a.State);
                        var result = new CkaStudyResult(acc.Result(), CkaStudyMethod.Minibatch, all[0].Total, all[0].Data, "model", "model");
                        CkaOptions.Write(ctx, result, output, p.GetValue(json), "cka", "layer", "layer", fig.Settings(p));
                        break;
                    }
                default:
                    if (CliOptions.CaptureFolderError(output, p.GetValue(force)) is string refused) throw new UsageException(refused);
                    MergeCaptures(ctx, ShardFiles.Complete(dirs.Select(d => (d, ShardFiles.Read<string[]>(Path.Combine(d, kind))))), dirs, output);
                    break;
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    static string Kind(string[] dirs)
    {
        var kinds = dirs.Select(d => new[] { ShardFiles.Dead, ShardFiles.Cka, ShardFiles.Capture }.FirstOrDefault(k => File.Exists(Path.Combine(d, k)))
            ?? throw new ProbeException($"'{d}' holds no partial result ({ShardFiles.Dead}, {ShardFiles.Cka} or {ShardFiles.Capture}); was it written with --shard?")).Distinct().ToList();
        if (kinds.Count > 1) throw new ProbeException($"The folders hold different kinds of partial results ({string.Join(", ", kinds)}); merge one kind at a time.");
        return kinds[0];
    }

    static void AtomicWrite(string path, string text)
    {
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Concatenates every layer's rows and the labels in shard order, one shard in memory at a time.</summary>
    static void MergeCaptures(CliContext ctx, List<ShardFiles.Partial<string[]>> parts, string[] dirs, string finalOutput)
    {
        var byShard = dirs.ToDictionary(d => ShardFiles.Read<string[]>(Path.Combine(d, ShardFiles.Capture)).Shard, d => d);
        var ordered = parts.Select(p => byShard[p.Shard]).ToList();
        var layers = parts[0].State;
        if (parts.Any(p => !p.State.SequenceEqual(layers)))
            throw new ProbeException("The shards captured different layers; rerun them with the same model and --layers.");
        // Written into a hidden staging folder that replaces the folder when complete: Ctrl-C leaves no partial .npy,
        // and no file of an earlier capture lingers.
        using var staged = ctx.Stage(finalOutput, folder: true, replace: true);
        string output = staged.Path;
        var report = ctx.Report("merge");
        // Each layer's file as the shards' layers.json records it (the capture made it unique in its folder).
        var manifest = CaptureManifest.Read(ordered[0]);
        var files = manifest?.Layers.ToDictionary(l => l.Name, l => l.File, StringComparer.Ordinal) ?? NpySink.FileNames(layers).ToDictionary();
        if (layers.FirstOrDefault(l => !files.ContainsKey(l)) is string missing)
            throw new ProbeException($"Shard folder '{ordered[0]}' has no file for layer '{missing}' in its layers.json; rerun the shard.");
        for (int li = 0; li < layers.Length; li++)
        {
            ctx.Cancel.ThrowIfCancellationRequested();
            report(li, layers.Length);
            Concat(files[layers[li]]);
        }
        // A masked capture's mask rows, concatenated as the layers' rows are.
        if (CaptureManifest.Read(ordered[0])?.TokenMaskFile is string maskFile) Concat(maskFile);
        if (ordered.All(d => File.Exists(Path.Combine(d, NpySink.LabelsFile))))
            Npy.Write(Path.Combine(output, NpySink.LabelsFile), ordered.SelectMany(d => Npy.ReadInt32(Path.Combine(d, NpySink.LabelsFile))).ToArray());
        void Concat(string file)
        {
            using var writer = new NpyMatrixWriter(Path.Combine(output, file));
            foreach (var d in ordered)
            {
                string path = Path.Combine(d, file);
                if (!File.Exists(path)) throw new ProbeException($"Shard folder '{d}' has no {file}, which its layers.json names; rerun that shard.");
                writer.Write(Npy.ReadMatrix(path));
            }
            writer.Complete();
        }
        // layers.json: the first shard's, for all samples, with the non-finite counts of every shard added.
        var manifests = ordered.Select(d => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(d, CaptureManifest.FileName)))!).ToList();
        var merged = manifests[0].DeepClone();
        merged["samples"] = parts[0].Total;
        var mergedLayers = merged["layers"]!.AsArray();
        for (int i = 0; i < mergedLayers.Count; i++)
            mergedLayers[i]!["nonFinite"] = manifests.Sum(m => m["layers"]![i]!["nonFinite"]!.GetValue<long>());
        JsonOutput.Write(Path.Combine(output, CaptureManifest.FileName), merged, CaptureManifest.FileName);
        staged.Commit();
        ctx.Out.WriteLine($"Merged {parts.Count} shards: {layers.Length} layer file(s) of {parts[0].Total} samples written to {finalOutput}");
    }
}
