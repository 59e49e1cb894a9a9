"""The retail normalizer on real-world-style titles: exact attributes, at least 40 titles per category.

Each row: title, the retailer's brand field, and the expected (category, brand, product line, model key,
manufacturer code, storage GB, RAM GB, screen inches, colour, capacity).
"""

from __future__ import annotations

import pytest

from processors.retail.attributes import parse_title

Expected = tuple[
    str, str | None, str | None, str | None, str | None, int | None, int | None, float | None, str | None, str | None
]
Row = tuple[str, str | None, Expected]

PHONES: list[Row] = [
    (
        "Celular Samsung Galaxy A54 5G 128GB 8GB RAM Negro",
        None,
        ("phone", "samsung", "galaxy a54 5g", "a54", None, 128, 8, None, "negro", None),
    ),
    (
        "Smartphone Galaxy A54 128 GB Awesome Black",
        "Samsung",
        ("phone", "samsung", "galaxy a54", "a54", None, 128, None, None, "negro", None),
    ),
    (
        "SAMSUNG GALAXY A54 5G 8+128GB NEGRO",
        "Samsung",
        ("phone", "samsung", "galaxy a54 5g", "a54", None, 128, 8, None, "negro", None),
    ),
    (
        "Samsung Galaxy A54 5G 8gb ram 256gb Blanco SM-A546E",
        None,
        ("phone", "samsung", "galaxy a54 5g", "a54", "SM-A546E", 256, 8, None, "blanco", None),
    ),
    (
        "Celular Samsung Galaxy A34 5G 6GB/128GB Plata",
        "SAMSUNG",
        ("phone", "samsung", "galaxy a34 5g", "a34", None, 128, 6, None, "plata", None),
    ),
    (
        "Smartphone Samsung Galaxy S24 Ultra 12GB 1TB Titanium Gray",
        None,
        ("phone", "samsung", "galaxy s24 ultra", "s24", None, 1024, 12, None, "titanio gris", None),
    ),
    (
        "Samsung Galaxy S24+ 256GB Onyx Black",
        None,
        ("phone", "samsung", "galaxy s24 plus", "s24", None, 256, None, None, "negro", None),
    ),
    (
        "Celular Samsung Galaxy S23 FE 8 GB RAM 256 GB Crema",
        None,
        ("phone", "samsung", "galaxy s23 fe", "s23", None, 256, 8, None, "crema", None),
    ),
    (
        "Samsung Galaxy Z Flip5 512 GB Mint SM-F731B",
        None,
        ("phone", "samsung", "galaxy z flip5", "flip5", "SM-F731B", 512, None, None, "menta", None),
    ),
    (
        "Celular Samsung Galaxy A15 4GB RAM 128GB Celeste",
        None,
        ("phone", "samsung", "galaxy a15", "a15", None, 128, 4, None, "celeste", None),
    ),
    (
        "Celular Samsung Galaxy A05s 4gb 64gb Plateado",
        None,
        ("phone", "samsung", "galaxy a05s", "a05s", None, 64, 4, None, "plata", None),
    ),
    (
        "iPhone 15 Pro Max 256GB Titanio Natural",
        "Apple",
        ("phone", "apple", "iphone 15 pro max", "iphone15", None, 256, None, None, "titanio natural", None),
    ),
    (
        "Celular Apple iPhone 15 128GB Negro MTP03LZ/A",
        None,
        ("phone", "apple", "iphone 15", "iphone15", "MTP03LZ/A", 128, None, None, "negro", None),
    ),
    (
        "APPLE IPHONE 14 PLUS 128GB STARLIGHT",
        "Apple",
        ("phone", "apple", "iphone 14 plus", "iphone14", None, 128, None, None, "blanco estelar", None),
    ),
    (
        "Smartphone Apple iPhone 13 256 GB Medianoche",
        None,
        ("phone", "apple", "iphone 13", "iphone13", None, 256, None, None, "medianoche", None),
    ),
    (
        "iPhone 15 Pro 1TB Black Titanium",
        None,
        ("phone", "apple", "iphone 15 pro", "iphone15", None, 1024, None, None, "titanio negro", None),
    ),
    (
        "Celular Xiaomi Redmi Note 13 Pro 5G 12GB RAM 512GB Morado",
        None,
        ("phone", "xiaomi", "note 13 pro 5g", "note13", None, 512, 12, None, "morado", None),
    ),
    (
        "Xiaomi Redmi Note 13 8+256GB Midnight Black",
        None,
        ("phone", "xiaomi", "note 13", "note13", None, 256, 8, None, "negro", None),
    ),
    (
        "Smartphone Redmi 13C 128 GB 4 GB RAM Verde Trébol",
        "Xiaomi",
        ("phone", "xiaomi", "13c", "13c", None, 128, 4, None, "verde trebol", None),
    ),
    (
        "Xiaomi Poco X6 Pro 5G 12GB 512GB Amarillo 2311DRK48G",
        None,
        ("phone", "xiaomi", "x6 pro 5g", "x6", "2311DRK48G", 512, 12, None, "amarillo", None),
    ),
    (
        "Celular Xiaomi 13T 256GB 12GB RAM Azul",
        None,
        ("phone", "xiaomi", "13t", "13t", None, 256, 12, None, "azul", None),
    ),
    (
        "Motorola Moto G54 5G 256GB 8GB RAM Azul Medianoche",
        None,
        ("phone", "motorola", "moto g54 5g", "g54", None, 256, 8, None, "azul medianoche", None),
    ),
    (
        "Celular Motorola Moto G84 5G 12+256GB Viva Magenta XT2347-1",
        None,
        ("phone", "motorola", "moto g84 5g", "g84", "XT2347-1", 256, 12, None, "magenta", None),
    ),
    (
        "MOTOROLA MOTO E13 2+64GB NEGRO",
        "Motorola",
        ("phone", "motorola", "moto e13", "e13", None, 64, 2, None, "negro", None),
    ),
    (
        "Smartphone Motorola Edge 40 Neo 256 GB Caneel Bay",
        None,
        ("phone", "motorola", "edge 40 neo", "edge40", None, 256, None, None, "azul", None),
    ),
    (
        "Smartphone Moto G24 Cosmic Black 128 GB",
        "Motorola",
        ("phone", "motorola", "moto g24", "g24", None, 128, None, None, "negro", None),
    ),
    (
        "Celular Honor X8b 8GB 256GB Verde LLY-LX3",
        None,
        ("phone", "honor", "x8b", "x8b", "LLY-LX3", 256, 8, None, "verde", None),
    ),
    (
        "Honor Magic6 Lite 5G 256gb 8gb ram Negro",
        None,
        ("phone", "honor", "magic6 lite 5g", "magic6", None, 256, 8, None, "negro", None),
    ),
    (
        "Celular Oppo Reno11 F 5G 256GB 8GB RAM Morado",
        None,
        ("phone", "oppo", "reno11 f 5g", "reno11", None, 256, 8, None, "morado", None),
    ),
    ("OPPO A18 4+128GB GRIS", "Oppo", ("phone", "oppo", "a18", "a18", None, 128, 4, None, "gris", None)),
    (
        "Celular Huawei Nova 11i 128GB 8GB RAM Negro",
        None,
        ("phone", "huawei", "nova 11i", "11i", None, 128, 8, None, "negro", None),
    ),
    ("Smartphone Vivo Y36 8GB 256GB Dorado", None, ("phone", "vivo", "y36", "y36", None, 256, 8, None, "dorado", None)),
    (
        "Realme C55 6GB RAM 128GB Amarillo",
        None,
        ("phone", "realme", "c55", "c55", None, 128, 6, None, "amarillo", None),
    ),
    (
        "Celular Samsung Galaxy A25 5G 256 GB 8 GB de RAM Azul Marino",
        None,
        ("phone", "samsung", "galaxy a25 5g", "a25", None, 256, 8, None, "azul marino", None),
    ),
    (
        "Samsung Galaxy A35 5G 8GB+256GB Awesome Lilac",
        None,
        ("phone", "samsung", "galaxy a35 5g", "a35", None, 256, 8, None, "lila", None),
    ),
    (
        "Celular Samsung Galaxy S23 Ultra 12GB 512GB Phantom Black SM-S918B",
        None,
        ("phone", "samsung", "galaxy s23 ultra", "s23", "SM-S918B", 512, 12, None, "negro", None),
    ),
    (
        "Smartphone Xiaomi Redmi A3 3GB 64GB Azul Marino",
        None,
        ("phone", "xiaomi", "a3", "a3", None, 64, 3, None, "azul marino", None),
    ),
    (
        "Celular Motorola Moto G34 5G 8 GB RAM 128 GB Verde Menta",
        None,
        ("phone", "motorola", "moto g34 5g", "g34", None, 128, 8, None, "menta", None),
    ),
    (
        "Teléfono Celular Nokia G42 5G 128GB 6GB RAM Púrpura",
        None,
        ("phone", "nokia", "g42 5g", "g42", None, 128, 6, None, "morado", None),
    ),
    (
        "Samsung Galaxy Z Fold5 12GB 256GB Phantom Black",
        None,
        ("phone", "samsung", "galaxy z fold5", "fold5", None, 256, 12, None, "negro", None),
    ),
    (
        "Celular ZTE Blade V50 Vita 256GB Verde",
        None,
        ("phone", "zte", "blade v50 vita", "v50", None, 256, None, None, "verde", None),
    ),
    ("Smartphone TCL 40 SE 6GB 256GB Gris", None, ("phone", "tcl", "40 se", "40", None, 256, 6, None, "gris", None)),
]
NOTEBOOKS: list[Row] = [
    (
        'Notebook Lenovo IdeaPad Slim 3 15IRU8 Intel Core i5-1335U 8GB RAM 512GB SSD 15.6"',
        None,
        ("notebook", "lenovo", "ideapad slim 3 15iru8", "slim3", None, 512, 8, 15.6, None, None),
    ),
    (
        'NOTEBOOK LENOVO IDEAPAD 1 14AMN7 RYZEN 5 8GB RAM 256GB SSD 14"',
        "Lenovo",
        ("notebook", "lenovo", "ideapad 1 14amn7", "ideapad1", None, 256, 8, 14.0, None, None),
    ),
    (
        "Notebook HP 15-fd0010la Core i3 8gb ram 256gb ssd 15,6 pulgadas 7Z0M6LA",
        None,
        ("notebook", "hp", "15 fd0010la", "15", "7Z0M6LA", 256, 8, 15.6, None, None),
    ),
    (
        "Laptop HP Victus 15-fa1026la Intel Core i5-13420H 16 GB RAM 512 GB SSD 15.6''",
        None,
        ("notebook", "hp", "victus 15 fa1026la", "victus15", None, 512, 16, 15.6, None, None),
    ),
    (
        'Notebook Asus Vivobook 15 X1504ZA Intel Core i5-1235U 8GB 512GB SSD 15.6" X1504ZA-NJ1069W',
        None,
        ("notebook", "asus", "vivobook 15 x1504za", "vivobook15", "X1504ZA-NJ1069W", 512, 8, 15.6, None, None),
    ),
    (
        'Notebook Apple MacBook Air Chip M2 8GB RAM 256GB SSD 13.6" Medianoche',
        None,
        ("notebook", "apple", "macbook air m2", "m2", None, 256, 8, 13.6, "medianoche", None),
    ),
    (
        'MacBook Air 15" M3 16GB 512GB Space Gray',
        "Apple",
        ("notebook", "apple", "macbook air m3", "m3", None, 512, 16, 15.0, "gris espacial", None),
    ),
    (
        'Notebook Dell Inspiron 15 3520 Core i7 16GB 1TB SSD 15.6"',
        None,
        ("notebook", "dell", "inspiron 15 3520", "inspiron15", None, 1024, 16, 15.6, None, None),
    ),
    (
        'Notebook Acer Aspire 5 A515-57 Intel Core i5 8GB RAM 512GB SSD 15.6"',
        None,
        ("notebook", "acer", "aspire 5 a515 57", "aspire5", None, 512, 8, 15.6, None, None),
    ),
    (
        "Laptop Lenovo LOQ 15IRH8 Core i5 16 GB RAM 512 GB SSD 15.6'' 82XV00E4CL",
        None,
        ("notebook", "lenovo", "loq 15irh8", "loq", "82XV00E4CL", 512, 16, 15.6, None, None),
    ),
    (
        'Notebook Asus Vivobook Go 15 E1504FA AMD Ryzen 5 7520U 8GB 512GB SSD 15,6"',
        None,
        ("notebook", "asus", "vivobook go 15 e1504fa", "go15", None, 512, 8, 15.6, None, None),
    ),
    (
        'Notebook HP Pavilion 15-eg3001la Intel Core i7-1355U 16GB 512GB SSD 15.6" Plata',
        None,
        ("notebook", "hp", "pavilion 15 eg3001la", "pavilion15", None, 512, 16, 15.6, "plata", None),
    ),
    (
        'Notebook Lenovo IdeaPad Slim 5 14IAH8 Intel Core i5-12450H 16GB RAM 512GB SSD 14"',
        None,
        ("notebook", "lenovo", "ideapad slim 5 14iah8", "slim5", None, 512, 16, 14.0, None, None),
    ),
    (
        'NOTEBOOK HP 14-EP0006LA CORE I3 8GB RAM 256GB SSD 14"',
        "HP",
        ("notebook", "hp", "14 ep0006la", "14", None, 256, 8, 14.0, None, None),
    ),
    (
        'Notebook Asus Vivobook 16 X1605VA Core i5 16GB 512GB SSD 16"',
        None,
        ("notebook", "asus", "vivobook 16 x1605va", "vivobook16", None, 512, 16, 16.0, None, None),
    ),
    (
        'Notebook Apple MacBook Pro 14" Chip M3 8GB 512GB SSD Gris Espacial',
        None,
        ("notebook", "apple", "macbook pro m3", "m3", None, 512, 8, 14.0, "gris espacial", None),
    ),
    (
        'Notebook Lenovo IdeaPad 3 Intel Celeron N4020 4GB 128GB eMMC 14"',
        None,
        ("notebook", "lenovo", "ideapad 3", "ideapad3", None, 128, 4, 14.0, None, None),
    ),
    (
        'Notebook Gamer MSI Thin GF63 Intel Core i7 16GB RAM 512GB SSD 15.6" RTX 4050',
        None,
        ("notebook", "msi", "thin gf63 rtx 4050", "gf63", None, 512, 16, 15.6, None, None),
    ),
    (
        'Notebook Dell Vostro 3520 Intel Core i3 8GB 256GB SSD 15.6"',
        None,
        ("notebook", "dell", "vostro 3520", "vostro3520", None, 256, 8, 15.6, None, None),
    ),
    (
        'Notebook Acer Nitro 5 AN515-58 Core i5 16GB 512GB SSD 15.6" Negro',
        None,
        ("notebook", "acer", "nitro 5 an515 58", "nitro5", None, 512, 16, 15.6, "negro", None),
    ),
    (
        'Laptop Asus Zenbook 14 OLED UX3402VA Core i7 16GB 1TB SSD 14"',
        None,
        ("notebook", "asus", "zenbook 14 oled ux3402va", "zenbook14", None, 1024, 16, 14.0, None, None),
    ),
    (
        'Notebook HP 240 G9 Intel Core i5 8GB RAM 256GB SSD 14"',
        None,
        ("notebook", "hp", "240 g9", "240", None, 256, 8, 14.0, None, None),
    ),
    (
        'Notebook Lenovo ThinkPad E14 Gen 5 Ryzen 7 16GB 512GB SSD 14"',
        None,
        ("notebook", "lenovo", "thinkpad e14 gen 5", "e14", None, 512, 16, 14.0, None, None),
    ),
    (
        'Notebook Samsung Galaxy Book3 Intel Core i5 8GB 256GB SSD 15.6" Plata',
        None,
        ("notebook", "samsung", "galaxy book3", "book3", None, 256, 8, 15.6, "plata", None),
    ),
    (
        'NOTEBOOK ASUS TUF GAMING F15 FX507ZC CORE I7 16GB 512GB SSD 15.6"',
        "Asus",
        ("notebook", "asus", "tuf gaming f15 fx507zc", "f15", None, 512, 16, 15.6, None, None),
    ),
    (
        'Notebook Huawei MateBook D15 Intel Core i5 8GB RAM 512GB SSD 15.6" Gris',
        None,
        ("notebook", "huawei", "matebook d15", "d15", None, 512, 8, 15.6, "gris", None),
    ),
    (
        "Notebook Apple MacBook Air 13.6'' M2 8 GB RAM 512 GB SSD Blanco Estelar",
        None,
        ("notebook", "apple", "macbook air m2", "m2", None, 512, 8, 13.6, "blanco estelar", None),
    ),
    (
        'Laptop MacBook Air M1 8GB 256GB SSD 13.3" Plata',
        "Apple",
        ("notebook", "apple", "macbook air m1", "m1", None, 256, 8, 13.3, "plata", None),
    ),
    (
        'Notebook Lenovo Yoga Slim 7 14IMH9 Core Ultra 7 16GB 1TB SSD 14"',
        None,
        ("notebook", "lenovo", "yoga slim 7 14imh9", "slim7", None, 1024, 16, 14.0, None, None),
    ),
    (
        "Notebook HP 250 G10 Core i7 16 GB 512 GB SSD 15,6 pulgadas",
        None,
        ("notebook", "hp", "250 g10", "250", None, 512, 16, 15.6, None, None),
    ),
    (
        'Notebook Dell Latitude 3540 Core i5 8GB 256GB SSD 15.6"',
        None,
        ("notebook", "dell", "latitude 3540", "latitude3540", None, 256, 8, 15.6, None, None),
    ),
    (
        'Notebook Acer Aspire 3 A315-24P Ryzen 3 8GB RAM 256GB SSD 15.6"',
        None,
        ("notebook", "acer", "aspire 3 a315 24p", "aspire3", None, 256, 8, 15.6, None, None),
    ),
    (
        'Notebook Asus Vivobook 15 X1504VA Intel Core i7-1355U 16GB RAM 512GB SSD 15.6" X1504VA-NJ1000W',
        None,
        ("notebook", "asus", "vivobook 15 x1504va", "vivobook15", "X1504VA-NJ1000W", 512, 16, 15.6, None, None),
    ),
    (
        'Notebook HP Victus 16-s0000la Ryzen 7 16GB 1TB SSD 16.1"',
        None,
        ("notebook", "hp", "victus 16 s0000la", "victus16", None, 1024, 16, 16.1, None, None),
    ),
    (
        'Notebook Lenovo IdeaPad Gaming 3 15ACH6 Ryzen 5 8GB 512GB SSD 15.6"',
        None,
        ("notebook", "lenovo", "ideapad gaming 3 15ach6", "gaming3", None, 512, 8, 15.6, None, None),
    ),
    (
        'Notebook Apple MacBook Pro 16" M3 Pro 18GB 512GB SSD Negro Espacial',
        None,
        ("notebook", "apple", "macbook pro m3 pro", "m3", None, 512, 18, 16.0, "negro", None),
    ),
    (
        'Notebook Gamer Acer Nitro V 15 Core i5 8GB 512GB SSD 15.6" RTX 2050',
        None,
        ("notebook", "acer", "nitro v 15 rtx 2050", "v15", None, 512, 8, 15.6, None, None),
    ),
    (
        'Notebook Asus ExpertBook B1 B1502CBA Core i5 8GB 512GB SSD 15.6"',
        None,
        ("notebook", "asus", "expertbook b1 b1502cba", "b1", None, 512, 8, 15.6, None, None),
    ),
    (
        'Notebook HP 15-fd0027la Intel Core i5-1335U 8GB RAM 512GB SSD 15.6" 7Z0N3LA',
        None,
        ("notebook", "hp", "15 fd0027la", "15", "7Z0N3LA", 512, 8, 15.6, None, None),
    ),
    (
        'Notebook Lenovo V15 G4 AMN Ryzen 5 7520U 8GB 256GB SSD 15.6"',
        None,
        ("notebook", "lenovo", "v15 g4 amn", "v15", None, 256, 8, 15.6, None, None),
    ),
]
TVS: list[Row] = [
    (
        'Smart TV Samsung Crystal UHD CU7000 55" 4K UHD UN55CU7000GXZS',
        None,
        ("tv", "samsung", "crystal cu7000", "cu7000", "UN55CU7000GXZS", None, None, 55.0, None, None),
    ),
    (
        "SMART TV SAMSUNG CRYSTAL UHD CU7000 65 PULGADAS 4K UHD UN65CU7010GXZS",
        "Samsung",
        ("tv", "samsung", "crystal cu7000", "cu7000", "UN65CU7010GXZS", None, None, 65.0, None, None),
    ),
    (
        'LED Smart TV LG UHD UR8750 50" 4K UHD 50UR8750PSA',
        None,
        ("tv", "lg", "ur8750", "ur8750", "50UR8750PSA", None, None, 50.0, None, None),
    ),
    (
        "Televisor LG OLED evo C3 65 pulgadas 4K UHD OLED65C3PSA",
        None,
        ("tv", "lg", "oled evo c3", "c3", "OLED65C3PSA", None, None, 65.0, None, None),
    ),
    (
        'Smart TV TCL P635 Google TV 43" 4K UHD 43P635',
        None,
        ("tv", "tcl", "p635 google", "p635", "43P635", None, None, 43.0, None, None),
    ),
    (
        "Televisor Hisense A6K Vidaa 58 pulgadas 4K UHD",
        None,
        ("tv", "hisense", "a6k vidaa", "a6k", None, None, None, 58.0, None, None),
    ),
    (
        'Smart TV Xiaomi TV A Pro Google TV 55" 4K UHD L55M8-A2LA',
        None,
        ("tv", "xiaomi", "a pro google", "google", "L55M8-A2LA", None, None, 55.0, None, None),
    ),
    (
        "Smart TV Samsung Neo QLED QN90C 65'' 4K UHD QN65QN90CAGXZS",
        None,
        ("tv", "samsung", "neo qled qn90c", "qn90c", "QN65QN90CAGXZS", None, None, 65.0, None, None),
    ),
    (
        'LED Smart TV LG NanoCell NANO77 55" 4K UHD 55NANO77SRA',
        None,
        ("tv", "lg", "nanocell nano77", "nano77", "55NANO77SRA", None, None, 55.0, None, None),
    ),
    (
        'Smart TV Samsung QLED Q60C 50" 4K UHD',
        None,
        ("tv", "samsung", "qled q60c", "q60c", None, None, None, 50.0, None, None),
    ),
    (
        "SMART TV TCL C645 QLED GOOGLE TV 65 PULGADAS 4K UHD",
        "TCL",
        ("tv", "tcl", "c645 qled google", "c645", None, None, None, 65.0, None, None),
    ),
    (
        "Televisor Samsung Crystal UHD CU8000 55 pulgadas 4K UHD UN55CU8000GXZS",
        None,
        ("tv", "samsung", "crystal cu8000", "cu8000", "UN55CU8000GXZS", None, None, 55.0, None, None),
    ),
    (
        "Smart TV LG 43 Pulgadas 4K UHD 43UR7800PSA ThinQ AI",
        None,
        ("tv", "lg", "thinq ai", "thinq", "43UR7800PSA", None, None, 43.0, None, None),
    ),
    (
        'Smart TV Hisense 32" HD A4K Vidaa 32A4K',
        None,
        ("tv", "hisense", "a4k vidaa", "a4k", "32A4K", None, None, 32.0, None, None),
    ),
    (
        'Smart TV Philips 50PUD7908 50" 4K UHD Google TV',
        None,
        ("tv", "philips", "google", "google", "50PUD7908", None, None, 50.0, None, None),
    ),
    (
        'Smart TV Samsung 75" Crystal UHD CU7000 4K UN75CU7000GXZS',
        None,
        ("tv", "samsung", "crystal cu7000", "cu7000", "UN75CU7000GXZS", None, None, 75.0, None, None),
    ),
    (
        "Televisor TCL 55P635 55 pulgadas 4K Google TV",
        None,
        ("tv", "tcl", "google", "google", "55P635", None, None, 55.0, None, None),
    ),
    (
        'Smart TV Sony Bravia KD-55X77L 55" 4K HDR Google TV',
        None,
        ("tv", "sony", "bravia hdr google", "bravia", "KD-55X77L", None, None, 55.0, None, None),
    ),
    (
        'LED Smart TV Hisense A6K Vidaa 65" 4K UHD 65A6K',
        None,
        ("tv", "hisense", "a6k vidaa", "a6k", "65A6K", None, None, 65.0, None, None),
    ),
    (
        "Smart TV Xiaomi TV A Pro 43 pulgadas 4K Google TV",
        None,
        ("tv", "xiaomi", "a pro google", "google", None, None, None, 43.0, None, None),
    ),
    (
        'Smart TV LG OLED evo C3 55" 4K UHD OLED55C3PSA',
        None,
        ("tv", "lg", "oled evo c3", "c3", "OLED55C3PSA", None, None, 55.0, None, None),
    ),
    (
        "Televisor Samsung QLED Q60C 65 pulgadas 4K UHD QN65Q60CAGXZS",
        None,
        ("tv", "samsung", "qled q60c", "q60c", "QN65Q60CAGXZS", None, None, 65.0, None, None),
    ),
    (
        "Smart TV Samsung Crystal UHD CU7000 43'' 4K UHD",
        None,
        ("tv", "samsung", "crystal cu7000", "cu7000", None, None, None, 43.0, None, None),
    ),
    (
        'Smart TV Master-G 32" HD Android TV MGAN32F',
        None,
        ("tv", "master-g", "android", "android", "MGAN32F", None, None, 32.0, None, None),
    ),
    (
        'Smart TV Caixun 50" 4K UHD Android TV C50VAUG',
        None,
        ("tv", "caixun", "android", "android", "C50VAUG", None, None, 50.0, None, None),
    ),
    (
        'LED TV Kalley 40" Full HD K-LED40FHD',
        None,
        ("tv", "kalley", None, None, "K-LED40FHD", None, None, 40.0, None, None),
    ),
    (
        'Smart TV TCL QLED C645 55" 4K Google TV 55C645',
        None,
        ("tv", "tcl", "qled c645 google", "c645", "55C645", None, None, 55.0, None, None),
    ),
    (
        'Smart TV Samsung The Frame 55" QLED 4K QN55LS03BAGXZS',
        None,
        ("tv", "samsung", "frame qled", "frame", "QN55LS03BAGXZS", None, None, 55.0, None, None),
    ),
    (
        "SMART TV LG UHD UR8750 65 PULGADAS 4K UHD",
        "LG",
        ("tv", "lg", "ur8750", "ur8750", None, None, None, 65.0, None, None),
    ),
    (
        "Televisor Hisense 43A6K 43 pulgadas 4K UHD Vidaa",
        None,
        ("tv", "hisense", "43a6k vidaa", "43a6k", None, None, None, 43.0, None, None),
    ),
    (
        'Smart TV Samsung Neo QLED QN90C 55" 4K',
        None,
        ("tv", "samsung", "neo qled qn90c", "qn90c", None, None, None, 55.0, None, None),
    ),
    (
        'Smart TV LG NanoCell NANO77 65" 4K UHD',
        None,
        ("tv", "lg", "nanocell nano77", "nano77", None, None, None, 65.0, None, None),
    ),
    (
        'Televisor Xiaomi TV A Pro 65" 4K UHD Google TV L65M8-A2LA',
        None,
        ("tv", "xiaomi", "a pro google", "google", "L65M8-A2LA", None, None, 65.0, None, None),
    ),
    (
        'Smart TV TCL P635 50" 4K UHD Google TV 50P635',
        None,
        ("tv", "tcl", "p635 google", "p635", "50P635", None, None, 50.0, None, None),
    ),
    (
        "Smart TV Samsung Crystal UHD CU8000 50 pulgadas 4K",
        None,
        ("tv", "samsung", "crystal cu8000", "cu8000", None, None, None, 50.0, None, None),
    ),
    ('Smart TV LG 55UR7800PSA 55" 4K UHD', None, ("tv", "lg", None, None, "55UR7800PSA", None, None, 55.0, None, None)),
    (
        "Televisor Samsung 50 pulgadas Crystal UHD CU7000 4K UHD UN50CU7010GXZS",
        None,
        ("tv", "samsung", "crystal cu7000", "cu7000", "UN50CU7010GXZS", None, None, 50.0, None, None),
    ),
    (
        'Smart TV Hisense A6K 50" 4K UHD 50A6K',
        None,
        ("tv", "hisense", "a6k", "a6k", "50A6K", None, None, 50.0, None, None),
    ),
    (
        'Smart TV TCL 32" HD S5400 Android TV 32S5400A',
        None,
        ("tv", "tcl", "s5400 android", "s5400", "32S5400A", None, None, 32.0, None, None),
    ),
    (
        'Smart TV LG OLED evo C3 77" 4K UHD OLED77C3PSA',
        None,
        ("tv", "lg", "oled evo c3", "c3", "OLED77C3PSA", None, None, 77.0, None, None),
    ),
]
APPLIANCES: list[Row] = [
    (
        "Refrigerador LG No Frost 312L GT32BPP",
        None,
        ("fridge", "lg", "no frost", "frost", "GT32BPP", None, None, None, None, "312l"),
    ),
    (
        "REFRIGERADOR SAMSUNG SIDE BY SIDE 602L RS60T5200S9",
        "Samsung",
        ("fridge", "samsung", "side by side", "side", "RS60T5200S9", None, None, None, None, "602l"),
    ),
    (
        "Refrigerador Mademsa Altus 1350 No Frost 324 Litros Inox",
        None,
        ("fridge", "mademsa", "altus 1350 no frost", "altus1350", None, None, None, None, "inox", "324l"),
    ),
    (
        "Refrigerador Fensa Advance 6300 No Frost Stainless Steel 273 Litros",
        None,
        ("fridge", "fensa", "advance 6300 no frost", "advance6300", None, None, None, None, "inox", "273l"),
    ),
    (
        "Refrigerador Whirlpool Xpert Energy Saver No Frost 400 lts WRM45AKTWW",
        None,
        ("fridge", "whirlpool", "xpert energy saver no frost", "xpert", "WRM45AKTWW", None, None, None, None, "400l"),
    ),
    (
        "Refrigerador Samsung Bespoke Bottom Freezer 328L RB33T307029",
        None,
        ("fridge", "samsung", "bespoke bottom freezer", "bespoke", "RB33T307029", None, None, None, None, "328l"),
    ),
    (
        "Refrigerador Midea No Frost 241 Litros Blanco MDRT346FGE50",
        None,
        ("fridge", "midea", "no frost", "frost", "MDRT346FGE50", None, None, None, "blanco", "241l"),
    ),
    (
        "Refrigerador Electrolux Inverter Bottom Freezer 454L IB54S",
        None,
        ("fridge", "electrolux", "inverter bottom freezer", "inverter", "IB54S", None, None, None, None, "454l"),
    ),
    (
        "Refrigerador Mademsa Nordik 415 Frío Directo 186 Litros",
        None,
        ("fridge", "mademsa", "nordik 415 frio directo", "nordik415", None, None, None, None, None, "186l"),
    ),
    (
        "Refrigerador LG Bottom Freezer 341 lts Plata GB37SPP",
        None,
        ("fridge", "lg", "bottom freezer", "bottom", "GB37SPP", None, None, None, "plata", "341l"),
    ),
    (
        "Lavadora LG Carga Superior 17KG WT17WPB",
        None,
        ("washer", "lg", "carga superior", "carga", "WT17WPB", None, None, None, None, "17kg"),
    ),
    (
        "LAVADORA SAMSUNG CARGA SUPERIOR 13 KG WA13CG5745BV",
        "Samsung",
        ("washer", "samsung", "carga superior", "carga", "WA13CG5745BV", None, None, None, None, "13kg"),
    ),
    (
        "Lavadora Secadora LG Carga Frontal 22 kg WD22VV2S6R",
        None,
        ("washer", "lg", "secadora carga frontal", "carga", "WD22VV2S6R", None, None, None, None, "22kg"),
    ),
    (
        "Lavadora Mademsa Marathon 1055 Carga Superior 10 kilos",
        None,
        ("washer", "mademsa", "marathon 1055 carga superior", "marathon1055", None, None, None, None, None, "10kg"),
    ),
    (
        "Lavadora Fensa Advance 9000 9 kg Blanca",
        None,
        ("washer", "fensa", "advance 9000", "advance9000", None, None, None, None, "blanco", "9kg"),
    ),
    (
        "Lavadora Electrolux Carga Superior Inverter 16KG EWIE16F3MS",
        None,
        ("washer", "electrolux", "carga superior inverter", "carga", "EWIE16F3MS", None, None, None, None, "16kg"),
    ),
    (
        "Lavadora Whirlpool Xpert System 16 kg WWI16BSHLA",
        None,
        ("washer", "whirlpool", "xpert system", "xpert", "WWI16BSHLA", None, None, None, None, "16kg"),
    ),
    (
        "Lavadora Samsung Carga Frontal 9 kg WW90T4040CE",
        None,
        ("washer", "samsung", "carga frontal", "carga", "WW90T4040CE", None, None, None, None, "9kg"),
    ),
    (
        "Lavadora Midea Carga Superior 10 kg MA200W100",
        None,
        ("washer", "midea", "carga superior", "carga", "MA200W100", None, None, None, None, "10kg"),
    ),
    (
        "Lavadora LG Carga Frontal 9KG Inverter WM9BPV2S6",
        None,
        ("washer", "lg", "carga frontal inverter", "carga", "WM9BPV2S6", None, None, None, None, "9kg"),
    ),
    (
        "Microondas Samsung con Grill 23L MG23K3515AK",
        None,
        ("microwave", "samsung", "grill", "grill", "MG23K3515AK", None, None, None, None, "23l"),
    ),
    (
        "Microondas LG NeoChef 23 Litros Negro MS2336GIB",
        None,
        ("microwave", "lg", "neochef", "neochef", "MS2336GIB", None, None, None, "negro", "23l"),
    ),
    (
        "Microondas Thomas Digital 20L Blanco TH-20D",
        None,
        ("microwave", "thomas", "digital", None, "TH-20D", None, None, None, "blanco", "20l"),
    ),
    (
        "MICROONDAS MADEMSA DIGITAL 20 LITROS MM-20D",
        "Mademsa",
        ("microwave", "mademsa", "digital", None, "MM-20D", None, None, None, None, "20l"),
    ),
    (
        "Horno Microondas Oster 0.7 pies 20 litros Plateado",
        None,
        ("microwave", "oster", None, None, None, None, None, None, "plata", "20l"),
    ),
    (
        "Freidora de Aire Oster DiamondForce 5L CKSTAF50D",
        None,
        ("airfryer", "oster", "diamondforce", "diamondforce", "CKSTAF50D", None, None, None, None, "5l"),
    ),
    (
        "Freidora de Aire Philips Essential XL 6.2 Litros HD9270/91",
        None,
        ("airfryer", "philips", "essential xl", "essential", "HD9270/91", None, None, None, None, "6.2l"),
    ),
    (
        "Freidora de Aire Ursus Trotter Digital 4L UT-FRYER45",
        None,
        ("airfryer", "ursus trotter", "digital", None, "UT-FRYER45", None, None, None, None, "4l"),
    ),
    (
        "Freidora de Aire Thomas 4 lts Negro TH-AF45D",
        None,
        ("airfryer", "thomas", None, None, "TH-AF45D", None, None, None, "negro", "4l"),
    ),
    (
        "Freidora de Aire Ninja Dual Zone 8L AF300",
        None,
        ("airfryer", "ninja", "dual zone", "dual", "AF300", None, None, None, None, "8l"),
    ),
    (
        "Freidora de Aire Sindelen 3.5 Litros Negra",
        None,
        ("airfryer", "sindelen", None, None, None, None, None, None, "negro", "3.5l"),
    ),
    (
        "Refrigerador Samsung No Frost 384 Litros Inox RT38K5930SL",
        None,
        ("fridge", "samsung", "no frost", "frost", "RT38K5930SL", None, None, None, "inox", "384l"),
    ),
    (
        "Refrigerador Fensa Advance 6300 No Frost 273 Litros Blanco",
        None,
        ("fridge", "fensa", "advance 6300 no frost", "advance6300", None, None, None, None, "blanco", "273l"),
    ),
    (
        "Lavadora LG Carga Superior 19 kilos Negro WT19BPB",
        None,
        ("washer", "lg", "carga superior", "carga", "WT19BPB", None, None, None, "negro", "19kg"),
    ),
    (
        "Microondas Samsung 23 Litros con Grill Negro",
        None,
        ("microwave", "samsung", "grill", "grill", None, None, None, None, "negro", "23l"),
    ),
    (
        "Refrigerador LG Side by Side 617 Litros Plata GS65SPP",
        None,
        ("fridge", "lg", "side by side", "side", "GS65SPP", None, None, None, "plata", "617l"),
    ),
    (
        "Freidora de Aire Philips Essential XL 6L Negra",
        None,
        ("airfryer", "philips", "essential xl", "essential", None, None, None, None, "negro", "6l"),
    ),
    (
        "Lavadora Samsung Carga Superior 17 kg Gris WA17CG6441BV",
        None,
        ("washer", "samsung", "carga superior", "carga", "WA17CG6441BV", None, None, None, "gris", "17kg"),
    ),
    (
        "Refrigerador Samsung No Frost 299L RT29K5030S8",
        None,
        ("fridge", "samsung", "no frost", "frost", "RT29K5030S8", None, None, None, None, "299l"),
    ),
    (
        "Microondas Thomas Digital 20 Litros Negro",
        None,
        ("microwave", "thomas", "digital", None, None, None, None, None, "negro", "20l"),
    ),
    (
        "Lavadora Secadora Samsung Carga Frontal 12/8 kg Inox",
        None,
        ("washer", "samsung", "secadora carga frontal", "carga", None, None, None, None, "inox", "12kg"),
    ),
]


def _attributes(title: str, brand: str | None) -> Expected:
    a = parse_title(title, brand)
    return (
        a.category,
        a.brand,
        a.product_line,
        a.model,
        a.model_code,
        a.storage_gb,
        a.ram_gb,
        a.screen_inches,
        a.color,
        a.capacity,
    )


@pytest.mark.parametrize(("title", "brand", "expected"), PHONES)
def test_phone_titles(title: str, brand: str | None, expected: Expected) -> None:
    assert _attributes(title, brand) == expected


@pytest.mark.parametrize(("title", "brand", "expected"), NOTEBOOKS)
def test_notebook_titles(title: str, brand: str | None, expected: Expected) -> None:
    assert _attributes(title, brand) == expected


@pytest.mark.parametrize(("title", "brand", "expected"), TVS)
def test_tv_titles(title: str, brand: str | None, expected: Expected) -> None:
    assert _attributes(title, brand) == expected


@pytest.mark.parametrize(("title", "brand", "expected"), APPLIANCES)
def test_appliance_titles(title: str, brand: str | None, expected: Expected) -> None:
    assert _attributes(title, brand) == expected


def test_each_category_table_has_at_least_40_titles() -> None:
    assert min(len(PHONES), len(NOTEBOOKS), len(TVS), len(APPLIANCES)) >= 40
    appliances = {row[2][0] for row in APPLIANCES}
    assert appliances == {"fridge", "washer", "microwave", "airfryer"}


@pytest.mark.parametrize(
    ("title", "storage", "ram"),
    [
        ("Galaxy A54 128 GB", 128, None),
        ("Galaxy A54 128gb", 128, None),
        ("Galaxy A54 128GB", 128, None),
        ("Galaxy S24 Ultra 1TB", 1024, None),
        ("Galaxy S24 Ultra 1 TB 12 GB RAM", 1024, 12),
        ("Galaxy A54 8 GB RAM 128 GB", 128, 8),
        ("Galaxy A54 8GB de RAM 128GB", 128, 8),
        ("Galaxy A54 8+128GB", 128, 8),
        ("Galaxy A54 8GB+128GB", 128, 8),
        ("Galaxy A54 8/128GB", 128, 8),
        ("Galaxy A54 8GB/128GB", 128, 8),
        ("Galaxy A54 128GB 8GB", 128, 8),
        ("Galaxy A54 8GB 128GB", 128, 8),
        ("Notebook 8GB RAM 512GB SSD", 512, 8),
        ("Notebook 16 GB 1 TB SSD", 1024, 16),
    ],
)
def test_units_written_any_common_way(title: str, storage: int, ram: int | None) -> None:
    a = parse_title(title, "Samsung")
    assert (a.storage_gb, a.ram_gb) == (storage, ram)


@pytest.mark.parametrize(
    ("title", "inches"),
    [
        ('TV 55"', 55.0),
        ("TV 55''", 55.0),
        ("TV 55 pulgadas", 55.0),
        ("TV 55″", 55.0),
        ("Notebook 15,6 pulgadas", 15.6),
        ('Notebook 15.6"', 15.6),
        ("Notebook 15.6 pulg", 15.6),
    ],
)
def test_screen_sizes(title: str, inches: float) -> None:
    assert parse_title(title).screen_inches == inches


def test_spanish_and_english_titles_of_one_phone_agree() -> None:
    es = parse_title("Celular Samsung Galaxy A54 5G 128GB 8GB RAM Negro")
    en = parse_title("Smartphone Galaxy A54 5G 128 GB Awesome Black", "Samsung")
    fields = ("category", "brand", "product_line", "model", "storage_gb", "color")
    assert [getattr(es, f) for f in fields] == [getattr(en, f) for f in fields]
    assert (es.ram_gb, en.ram_gb) == (8, None)


def test_accents_and_case_are_folded() -> None:
    a = parse_title("AUDÍFONOS BLUETOOTH SONY WH-CH720N AZUL")
    b = parse_title("audifonos bluetooth sony wh-ch720n azul")
    assert a == b
    assert (a.category, a.brand, a.color) == ("headphones", "sony", "azul")
    assert a.normalized_title == "audifonos bluetooth sony wh ch720n azul"


@pytest.mark.parametrize(
    ("title", "cpu"),
    [
        ("Notebook HP 15 Intel Core i5-1335U 8GB 512GB SSD", "i5"),
        ("Notebook HP 15 Core i7 16GB 512GB SSD", "i7"),
        ("Notebook Lenovo IdeaPad AMD Ryzen 5 7520U 8GB 512GB SSD", "ryzen 5"),
        ("Notebook Lenovo Yoga Core Ultra 7 155H 16GB 1TB SSD", "ultra 7"),
        ("Notebook Lenovo IdeaPad Intel Celeron N4020 4GB 128GB", "celeron"),
        ("Notebook Apple MacBook Air M2 8GB 256GB", None),
    ],
)
def test_processor_family(title: str, cpu: str | None) -> None:
    assert parse_title(title).cpu == cpu


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("Celular Samsung Galaxy A54 5G 128GB Negro SM-A546E", "SM-A546E"),
        ("Celular Samsung Galaxy SM-A546E A54 5G 128GB Negro", "SM-A546E"),
        ("iPhone 15 128GB Negro MTP03LZ/A", "MTP03LZ/A"),
        ("iPhone 15 (MTP03LZ/A) 128GB Negro", "MTP03LZ/A"),
        ("Consola Nintendo Switch 32GB HAC-001(-01)", "HAC-001(-01)"),
        ("Smart TV Samsung Crystal UHD 55 pulgadas UN55CU7000GXZS", "UN55CU7000GXZS"),
        ("Celular Samsung Galaxy A54 5G 128GB Negro", None),
        ("Consola Sony PlayStation 5 Slim 1TB", None),
    ],
)
def test_model_codes(title: str, code: str | None) -> None:
    assert parse_title(title).model_code == code


def test_same_line_different_storage_is_kept_apart() -> None:
    a = parse_title("Celular Samsung Galaxy A54 5G 128GB Negro")
    b = parse_title("Celular Samsung Galaxy A54 5G 256GB Negro")
    assert (a.model, a.storage_gb) == ("a54", 128)
    assert (b.model, b.storage_gb) == ("a54", 256)


def test_twins_differ_only_by_model_code() -> None:
    a = parse_title('Smart TV Samsung Crystal UHD CU7000 55" 4K UHD UN55CU7000GXZS')
    b = parse_title('Smart TV Samsung Crystal UHD CU7000 55" 4K UHD UN55CU7010GXZS')
    assert a.product_line == b.product_line == "crystal cu7000"
    assert (a.code_key, b.code_key) == ("UN55CU7000GXZS", "UN55CU7010GXZS")


def test_category_falls_back_to_the_retailers_path() -> None:
    a = parse_title("HONOR X8B 8+256GB NEGRO", "Honor", "Tecno > Celulares > Smartphones")
    assert a.category == "phone"
    w = parse_title("Galaxy Watch6 Plata 40 mm", "Samsung", "Tecnología/Smartwatches")
    assert (w.category, w.capacity) == ("watch", "40mm")
