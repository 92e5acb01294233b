"""Work counts from propagated shapes (issue 19): BERT-base exported by torch.onnx at 1x128 must read about 11 GMACs
(the hand formula gives 11.17), where onnx's shape inference alone leaves its attention MatMuls uncounted. Prints the
figures and how long each shape inference took; needs torch (the exporter)."""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # torch_models: the BERT module


def main() -> None:
    from torch_models import bert_macs, export_bert

    from workbench.model import load_model
    from workbench.model.flops import estimate_node
    from workbench.model.work import lower_bound_note, model_work

    shapes = {"input_ids": (1, 128), "attention_mask": (1, 128)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bert_base.onnx"
        t = time.perf_counter()
        export_bert(path, layers=12, hidden=768, heads=12, ffn=3072, vocab=30522)
        print(f"torch.onnx export of BERT-base:          {time.perf_counter() - t:.1f} s")
        model = load_model(path)
        t = time.perf_counter()
        concrete = model.shapes.concrete(shapes)  # onnx's shape inference alone, as the count was before
        onnx_only = [estimate_node(node, concrete) for node in model.proto.graph.node]
        onnx_s = time.perf_counter() - t
        t = time.perf_counter()
        work = model_work(model, shapes)
        work_s = time.perf_counter() - t
    expected = bert_macs(12, 768, 3072, 128)
    print(f"nodes:                                   {model.node_count}")
    print(f"hand formula:                            {expected / 1e9:.3f} GMACs")
    print(f"onnx shape inference only (before):      {sum(r[0] for r in onnx_only) / 1e9:.3f} GMACs, "
          f"{sum(not r[2] for r in onnx_only)} nodes not counted, {onnx_s:.2f} s")
    print(f"propagated ({work.attrs['shape_inference']}): {work['macs'].sum() / 1e9:.3f} GMACs, "
          f"{lower_bound_note(work) or 'every node counted'}, {work_s:.2f} s")
    print(f"ratio counted / hand formula:            {work['macs'].sum() / expected:.4f}")


if __name__ == "__main__":
    main()
