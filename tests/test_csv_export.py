import asyncio
import warnings

from layers_ops.csv_export import ASGI_BATCH, csv_response


def test_a_csv_download_streams_in_batches_under_asgi():
    produced = []

    def rows():
        for number in range(3 * ASGI_BATCH):
            produced.append(number)
            yield [number, "=SUM(A1)"]

    response = csv_response("ledger.csv", ["n", "memo"], rows())

    async def download():
        chunks, produced_at_first_chunk = [], None
        async for chunk in response:
            produced_at_first_chunk = produced_at_first_chunk or len(produced)
            chunks.append(chunk)
        return chunks, produced_at_first_chunk

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django warns when it must read the whole iterator
        chunks, produced_at_first_chunk = asyncio.run(download())

    lines = b"".join(chunks).decode().splitlines()
    assert lines[0] == "n,memo"
    assert lines[1:3] == ["0,'=SUM(A1)", "1,'=SUM(A1)"]
    assert len(lines) == 1 + 3 * ASGI_BATCH
    # The first chunk went out when one batch of rows had been read, not all of them.
    assert produced_at_first_chunk <= ASGI_BATCH + 1
    assert len(chunks) >= 3
